//! Export, flush, restore: the Redis index rebuilt from records carries on where it stopped.

use std::sync::Arc;

use godel_queue::{
    AgentId, Eligibility, ManualClock, NewTask, QueueConfig, QueueStore, TaskStatus, TenantId,
};
use godel_redis::RedisQueueStore;
use godel_redis::testing::TestRedis;
use serde_json::json;

fn task(tenant: &str, n: u32) -> NewTask {
    NewTask::new(TenantId::parse(tenant).unwrap(), json!({ "n": n }))
}

async fn store(redis: &TestRedis, clock: &ManualClock) -> RedisQueueStore {
    RedisQueueStore::new(
        redis.pool().clone(),
        redis.prefix(),
        QueueConfig::default(),
        Arc::new(clock.clone()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_flushed_index_is_rebuilt_from_exported_records_and_carries_on() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let clock = ManualClock::default();
    let store = store(&redis, &clock).await;
    let agent = AgentId::parse("a1").unwrap();
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(
            store
                .enqueue(task(if n % 2 == 0 { "acme" } else { "globex" }, n))
                .await
                .unwrap()
                .id,
        );
    }
    let leased = store.claim(&agent, &Eligibility::any(), 2).await.unwrap();
    store.start(&leased[0].token).await.unwrap();
    let done = store
        .claim(&agent, &Eligibility::any(), 1)
        .await
        .unwrap()
        .remove(0);
    store.ack(&done.token, None).await.unwrap();
    let order_before: Vec<_> = {
        let probe = TestRedis::create().await.unwrap();
        let copy = store_copy(&probe, &clock, &store).await;
        claim_all(&copy, &agent).await
    };

    let exported = store.export().await.unwrap();
    assert_eq!(exported.len(), 6, "every task is exported");
    let max_fence = exported.iter().filter_map(|r| r.lease_fence).max().unwrap();
    redis.flush().await;
    assert!(
        store.export().await.unwrap().is_empty(),
        "the flush emptied the index"
    );

    store.restore(&exported).await.unwrap();
    store.restore(&exported).await.unwrap(); // idempotent
    assert_eq!(
        store.export().await.unwrap(),
        exported,
        "records come back as they were"
    );
    assert_eq!(store.load(&agent).await.unwrap(), 2, "leases count again");

    // Leased tasks keep their lease and fence: the holders carry on.
    store.heartbeat(&leased[0].token).await.unwrap();
    store.ack(&leased[1].token, None).await.unwrap();
    assert_eq!(
        store.get(done.task.id).await.unwrap().status,
        TaskStatus::Completed
    );

    // Pending tasks are claimable in the same order, with fences beyond every earlier one.
    let after: Vec<_> = claim_all(&store, &agent).await;
    assert_eq!(
        after.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        order_before.iter().map(|(id, _)| *id).collect::<Vec<_>>()
    );
    assert!(
        after.iter().all(|(_, fence)| *fence > max_fence),
        "fences never go back"
    );

    // New tasks come after every restored one.
    let later = store.enqueue(task("acme", 99)).await.unwrap().id;
    let max_seq = exported.iter().map(|r| r.seq).max().unwrap();
    assert!(
        store.get(later).await.unwrap().seq > max_seq,
        "seq never goes back"
    );
}

/// A second store under another prefix holding the same records, to learn the claim order the
/// original would follow (the probe's keys live until the caller's block ends).
async fn store_copy(
    probe: &TestRedis,
    clock: &ManualClock,
    from: &RedisQueueStore,
) -> RedisQueueStore {
    let copy = store(probe, clock).await;
    copy.restore(&from.export().await.unwrap()).await.unwrap();
    copy
}

async fn claim_all(store: &RedisQueueStore, agent: &AgentId) -> Vec<(godel_queue::TaskId, u64)> {
    let mut out = Vec::new();
    while let Some(lease) = store
        .claim(agent, &Eligibility::any(), 1)
        .await
        .unwrap()
        .pop()
    {
        out.push((lease.task.id, lease.token.fence));
    }
    out
}
