//! Leases: expiry, heartbeats, fencing tokens, reaping, release, failover, load accounting.

use std::time::Duration;

use serde_json::json;

use crate::config::QueueConfig;
use crate::conformance::StoreFactory;
use crate::conformance::harness::{Harness, agent_id, task};
use crate::error::{ErrorKind, LeaseRefusal, QueueError};
use crate::retry::RetryPolicy;
use crate::status::TaskStatus;
use crate::store::QueueStore;
use crate::task::{Failure, Payload};

const TTL: Duration = Duration::from_secs(30);

fn refusal(err: &QueueError) -> Option<LeaseRefusal> {
    match err {
        QueueError::StaleLease { reason, .. } => Some(*reason),
        _ => None,
    }
}

/// A claim assigns the task under a lease that ends one TTL from now, with a fence greater
/// than every earlier one.
pub async fn claim_leases_with_expiry_and_increasing_fences<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    for _ in 0..3 {
        h.put(task("acme")).await;
    }
    let leases = h.claim("a1", 3).await;
    let fences: Vec<u64> = leases.iter().map(|l| l.token.fence).collect();
    assert!(
        fences.windows(2).all(|w| w[0] < w[1]),
        "fences grow: {fences:?}"
    );
    let lease = &leases[0];
    assert_eq!(lease.expires_at, h.now() + TTL);
    assert_eq!(lease.attempt, 1);
    assert_eq!(lease.task.status, TaskStatus::Assigned);
    let record = h.store.get(lease.token.task).await.unwrap();
    assert_eq!(record.status, TaskStatus::Assigned);
    assert_eq!(record.assignee, Some(agent_id("a1")));
    assert_eq!(record.lease_fence, Some(lease.token.fence));
    assert_eq!(record.lease_expires_at, Some(lease.expires_at));
    assert!(fences[2] > fences[0]);
}

/// `start` moves the task to running and records when; repeating it is harmless.
pub async fn start_marks_the_task_running<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    h.advance(Duration::from_secs(1));
    h.store.start(&lease.token).await.unwrap();
    h.store.start(&lease.token).await.unwrap();
    let record = h.store.get(lease.token.task).await.unwrap();
    assert_eq!(record.status, TaskStatus::Running);
    assert_eq!(record.started_at, Some(h.now()));
}

/// A heartbeat pushes the expiry one TTL past now, so a lease kept alive never expires.
pub async fn heartbeat_extends_the_lease<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    for _ in 0..4 {
        h.advance(Duration::from_secs(20));
        let beat = h.store.heartbeat(&lease.token).await.unwrap();
        assert_eq!(beat.expires_at, h.now() + TTL);
        assert!(!beat.cancel_requested);
    }
    assert!(h.store.reap_expired().await.unwrap().is_empty());
    h.store.ack(&lease.token, None).await.unwrap();
}

/// Ack completes the task, keeps the result and stamps the finish time.
pub async fn ack_completes_and_keeps_the_result<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    h.store.start(&lease.token).await.unwrap();
    h.store
        .ack(&lease.token, Some(Payload::new(json!({"ok": true}))))
        .await
        .unwrap();
    let record = h.store.get(lease.token.task).await.unwrap();
    assert_eq!(record.status, TaskStatus::Completed);
    assert_eq!(record.result.as_deref(), Some(&json!({"ok": true})));
    assert_eq!(record.finished_at, Some(h.now()));
    assert!(record.lease_fence.is_none() && record.assignee.is_none());
    assert_eq!(h.store.stats().await.unwrap().completed, 1);
}

/// After a lease expires and the task is leased again, the old holder's ack, fail and
/// heartbeat are all refused as superseded, and the new holder's result stands.
pub async fn old_holder_is_refused_after_the_task_is_leased_again<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put(task("acme")).await;
    let old = h.claim_one("slow").await;
    h.advance(TTL);
    h.store.reap_expired().await.unwrap();
    let new = h.claim_one("fast").await;
    assert_eq!(new.token.task, old.token.task);
    assert!(new.token.fence > old.token.fence);
    let err = h.store.ack(&old.token, None).await.unwrap_err();
    assert_eq!(refusal(&err), Some(LeaseRefusal::Superseded), "{err}");
    assert_eq!(err.kind(), ErrorKind::StaleLease);
    let err = h
        .store
        .fail(&old.token, Failure::retryable("late"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&err), Some(LeaseRefusal::Superseded), "{err}");
    assert!(h.store.heartbeat(&old.token).await.is_err());
    h.store
        .ack(&new.token, Some(Payload::new(json!("new"))))
        .await
        .unwrap();
    assert_eq!(
        h.store.get(new.token.task).await.unwrap().result.as_deref(),
        Some(&json!("new"))
    );
}

/// Once its expiry has passed, a token is refused even before the lease is reaped.
pub async fn expired_token_is_refused_before_reaping<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    h.advance(TTL);
    let err = h.store.ack(&lease.token, None).await.unwrap_err();
    assert_eq!(refusal(&err), Some(LeaseRefusal::Expired), "{err}");
    let err = h.store.heartbeat(&lease.token).await.unwrap_err();
    assert_eq!(refusal(&err), Some(LeaseRefusal::Expired), "{err}");
    assert_eq!(h.status(lease.token.task).await, TaskStatus::Assigned);
}

/// A task is never completed twice: a second ack with the same token is refused.
pub async fn second_ack_is_refused<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    h.store.ack(&lease.token, None).await.unwrap();
    let err = h.store.ack(&lease.token, None).await.unwrap_err();
    assert_eq!(refusal(&err), Some(LeaseRefusal::NotLeased), "{err}");
    assert_eq!(h.store.stats().await.unwrap().completed, 1);
}

/// Heartbeat and start with a token of a released lease are refused.
pub async fn stale_heartbeat_and_start_are_refused<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    h.store.release(&lease.token).await.unwrap();
    assert!(matches!(
        h.store.heartbeat(&lease.token).await,
        Err(QueueError::StaleLease { .. })
    ));
    assert!(matches!(
        h.store.start(&lease.token).await,
        Err(QueueError::StaleLease { .. })
    ));
    assert_eq!(h.status(lease.token.task).await, TaskStatus::Pending);
}

/// Reaping an expired lease counts an attempt and makes the task due again at once.
pub async fn expired_lease_is_requeued_as_a_failed_attempt<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    h.advance(TTL - Duration::from_secs(1));
    assert!(
        h.store.reap_expired().await.unwrap().is_empty(),
        "live leases are not reaped"
    );
    h.advance(Duration::from_secs(1));
    let reaped = h.store.reap_expired().await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(
        (reaped[0].task, reaped[0].status),
        (id, TaskStatus::Pending)
    );
    assert_eq!(reaped[0].agent, agent_id("a1"));
    let record = h.store.get(id).await.unwrap();
    assert_eq!(record.attempt_count, 1);
    assert_eq!(h.load("a1").await, 0);
    let again = h.claim_one("a2").await;
    assert_eq!((again.token.task, again.attempt), (id, 2));
    assert_ne!(again.token, lease.token);
}

/// An expiry that uses up the last attempt dead-letters the task.
pub async fn expiry_at_max_attempts_dead_letters<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme").with_max_attempts(2)).await;
    for _ in 0..2 {
        h.claim_one("a1").await;
        h.advance(TTL);
        h.store.reap_expired().await.unwrap();
    }
    let record = h.store.get(id).await.unwrap();
    assert_eq!(record.status, TaskStatus::DeadLetter);
    assert_eq!(record.attempt_count, 2);
    assert_eq!(record.dead_lettered_at, Some(h.now()));
    assert!(h.claim("a1", 1).await.is_empty());
}

/// Release hands the task back, due at once, without counting an attempt.
pub async fn release_gives_back_without_counting_an_attempt<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    assert_eq!(
        h.store.release(&lease.token).await.unwrap(),
        TaskStatus::Pending
    );
    let record = h.store.get(id).await.unwrap();
    assert_eq!(
        (record.status, record.attempt_count),
        (TaskStatus::Pending, 0)
    );
    assert_eq!(h.load("a1").await, 0);
    assert_eq!(h.claim_one("a2").await.attempt, 1);
}

/// Every path that ends or moves an assignment gives the agent's load back exactly once.
pub async fn load_is_released_exactly_once_on_every_path<F: StoreFactory>(f: &F) {
    let retry = RetryPolicy {
        max_attempts: 10,
        ..RetryPolicy::default()
    };
    let h = Harness::with_config(
        f,
        QueueConfig {
            retry,
            ..QueueConfig::default()
        },
    )
    .await;
    for _ in 0..6 {
        h.put(task("acme")).await;
    }
    let leases = h.claim("a1", 6).await;
    assert_eq!(h.load("a1").await, 6);
    h.store.ack(&leases[0].token, None).await.unwrap();
    assert_eq!(h.load("a1").await, 5);
    h.store
        .fail(&leases[1].token, Failure::retryable("x"))
        .await
        .unwrap();
    assert_eq!(h.load("a1").await, 4);
    h.store.release(&leases[2].token).await.unwrap();
    assert_eq!(h.load("a1").await, 3);
    h.store.cancel(leases[3].token.task, "stop").await.unwrap();
    assert_eq!(
        h.load("a1").await,
        3,
        "a cancel request keeps the lease until confirmed"
    );
    h.store
        .fail(&leases[3].token, Failure::retryable("aborted"))
        .await
        .unwrap();
    assert_eq!(h.load("a1").await, 2);
    h.store
        .fail_over(&agent_id("a1"), "gateway lost")
        .await
        .unwrap();
    assert_eq!(h.load("a1").await, 0);
    // Stale reports after the fact change nothing.
    assert!(h.store.ack(&leases[4].token, None).await.is_err());
    assert!(
        h.store
            .fail(&leases[1].token, Failure::retryable("again"))
            .await
            .is_err()
    );
    assert_eq!(h.load("a1").await, 0);
    h.claim_one("a2").await;
    assert_eq!(h.load("a2").await, 1);
    h.advance(TTL);
    h.store.reap_expired().await.unwrap();
    assert_eq!(h.load("a2").await, 0);
}

/// Failover puts back every task the lost agent held, counting an attempt; its tokens die.
pub async fn fail_over_requeues_the_agents_tasks<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    for _ in 0..3 {
        h.put(task("acme")).await;
    }
    let lost = h.claim("lost", 2).await;
    let kept = h.claim_one("alive").await;
    h.store.start(&lost[0].token).await.unwrap();
    let mut moved = h
        .store
        .fail_over(&agent_id("lost"), "instance unhealthy")
        .await
        .unwrap();
    moved.sort_by_key(|r| r.task);
    let mut want: Vec<_> = lost.iter().map(|l| l.token.task).collect();
    want.sort();
    assert_eq!(moved.iter().map(|r| r.task).collect::<Vec<_>>(), want);
    assert!(
        moved
            .iter()
            .all(|r| r.status == TaskStatus::Pending && r.agent == agent_id("lost"))
    );
    for lease in &lost {
        assert_eq!(
            h.store.get(lease.token.task).await.unwrap().attempt_count,
            1
        );
        assert!(h.store.ack(&lease.token, None).await.is_err());
    }
    assert_eq!(h.status(kept.token.task).await, TaskStatus::Assigned);
    assert!(
        h.store
            .fail_over(&agent_id("nobody"), "x")
            .await
            .unwrap()
            .is_empty()
    );
}
