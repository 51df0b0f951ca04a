//! Retry backoff with jitter: the Redis store shortens a backoff exactly as the reference
//! (memory) store does, from the same jitter samples (to the microsecond, Redis's resolution).

use std::sync::Arc;
use std::time::Duration;

use godel_queue::{
    AgentId, Clock, Eligibility, FailOutcome, Failure, ManualClock, MemoryQueueStore, NewTask,
    QueueConfig, QueueStore, RetryPolicy, SeededJitter, TenantId,
};
use godel_redis::RedisQueueStore;
use godel_redis::testing::TestRedis;
use serde_json::json;

fn config() -> QueueConfig {
    QueueConfig {
        retry: RetryPolicy {
            max_attempts: 5,
            initial: Duration::from_secs(4),
            jitter: 0.5,
            ..RetryPolicy::default()
        },
        ..QueueConfig::default()
    }
}

/// Fails the one task of `store` three times and returns the delays it was given.
async fn delays(store: &dyn QueueStore, clock: &ManualClock) -> Vec<Duration> {
    let agent = AgentId::parse("a1").unwrap();
    store
        .enqueue(NewTask::new(TenantId::parse("acme").unwrap(), json!({})))
        .await
        .unwrap();
    let mut out = Vec::new();
    for _ in 0..3 {
        let lease = store
            .claim(&agent, &Eligibility::any(), 1)
            .await
            .unwrap()
            .remove(0);
        let outcome = store
            .fail(&lease.token, Failure::retryable("flaky"))
            .await
            .unwrap();
        let FailOutcome::Retrying { due_at, .. } = outcome else {
            panic!("a retryable failure with attempts left is retried: {outcome:?}");
        };
        let delay = (due_at - clock.now()).unsigned_abs();
        out.push(delay);
        clock.advance(delay);
    }
    out
}

#[tokio::test]
async fn a_jittered_backoff_matches_the_reference_store() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let clock = ManualClock::default();
    let store = RedisQueueStore::new(
        redis.pool().clone(),
        redis.prefix(),
        config(),
        Arc::new(clock.clone()),
    )
    .unwrap()
    .with_jitter(Arc::new(SeededJitter::new(7)));
    let reference_clock = ManualClock::default();
    let reference = MemoryQueueStore::try_new(config(), Arc::new(reference_clock.clone()))
        .unwrap()
        .with_jitter(Arc::new(SeededJitter::new(7)));

    let got = delays(&store, &clock).await;
    let expected = delays(&reference, &reference_clock).await;

    let micros = |d: &Vec<Duration>| d.iter().map(Duration::as_micros).collect::<Vec<_>>();
    assert_eq!(
        micros(&got),
        micros(&expected),
        "the same delays, to the µs Redis keeps"
    );
    for (n, delay) in got.iter().enumerate() {
        let base = Duration::from_secs(4 << n);
        assert!(
            *delay <= base && *delay >= base / 2,
            "attempt {n}: {delay:?} within half of {base:?}"
        );
    }
    assert_ne!(got[0], Duration::from_secs(4), "jitter took something off");
}
