//! Enqueue: ids, batches, validation, idempotency keys, tenant queue bounds.

use serde_json::json;

use crate::config::TenantPolicy;
use crate::conformance::StoreFactory;
use crate::conformance::harness::{Harness, task, tenant};
use crate::error::{ErrorKind, QueueError};
use crate::ids::TaskId;
use crate::priority::Priority;
use crate::status::TaskStatus;
use crate::store::QueueStore;

/// A new task is pending, at the default priority, with its payload and no attempts.
pub async fn enqueued_task_is_pending_and_readable<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let out = h
        .store
        .enqueue(task("acme").with_max_attempts(5))
        .await
        .unwrap();
    assert_eq!(out.status, TaskStatus::Pending);
    assert_eq!(out.priority, Priority::Medium);
    assert!(!out.deduplicated);
    let record = h.store.get(out.id).await.unwrap();
    assert_eq!(record.id, out.id);
    assert_eq!(record.tenant, tenant("acme"));
    assert_eq!(record.status, TaskStatus::Pending);
    assert_eq!(*record.payload, json!({"prompt": "work"}));
    assert_eq!((record.attempt_count, record.max_attempts), (0, 5));
    assert_eq!(record.created_at, h.now());
    assert!(record.assignee.is_none() && record.lease_fence.is_none());
}

/// Reading a task that was never enqueued is `NotFound`.
pub async fn unknown_task_is_not_found<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let missing = TaskId::from_u128(42);
    let err = h.store.get(missing).await.unwrap_err();
    assert!(
        matches!(err, QueueError::NotFound(id) if id == missing),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

/// A second task with a taken id is refused and the first is untouched.
pub async fn duplicate_id_is_refused<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme")).await;
    let err = h
        .store
        .enqueue(task("acme").with_id(id).with_priority(Priority::High))
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueueError::AlreadyExists(x) if x == id),
        "{err}"
    );
    assert_eq!(h.store.get(id).await.unwrap().priority, Priority::Medium);
}

/// A batch with one bad task creates none of its tasks.
pub async fn batch_is_all_or_nothing<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let good = task("acme");
    let good_id = good.id;
    let bad = task("acme").depends_on(TaskId::from_u128(7));
    let err = h.store.enqueue_batch(vec![good, bad]).await.unwrap_err();
    assert!(matches!(err, QueueError::UnknownDependency { .. }), "{err}");
    assert!(matches!(
        h.store.get(good_id).await,
        Err(QueueError::NotFound(_))
    ));
    assert_eq!(h.store.depth().await.unwrap().total(), 0);

    let (a, b) = (task("acme"), task("acme"));
    let b = b.depends_on(a.id);
    let out = h.store.enqueue_batch(vec![a, b]).await.unwrap();
    assert_eq!(
        out.iter().map(|e| e.status).collect::<Vec<_>>(),
        [TaskStatus::Pending, TaskStatus::Blocked]
    );
}

/// An empty batch is invalid input.
pub async fn empty_batch_is_invalid<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let err = h.store.enqueue_batch(Vec::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
}

/// `max_attempts` 0 and a self-dependency are invalid input.
pub async fn zero_max_attempts_is_invalid<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let err = h
        .store
        .enqueue(task("acme").with_max_attempts(0))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            QueueError::Invalid {
                field: "max_attempts",
                ..
            }
        ),
        "{err}"
    );
    let selfish = task("acme");
    let selfish = selfish.clone().depends_on(selfish.id);
    let err = h.store.enqueue(selfish).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
}

/// Enqueueing with a key the tenant already used returns the existing task, creating nothing.
pub async fn idempotency_key_returns_the_existing_task<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let first = h
        .store
        .enqueue(task("acme").with_idempotency_key("build-42"))
        .await
        .unwrap();
    let again = h
        .store
        .enqueue(
            task("acme")
                .with_idempotency_key("build-42")
                .with_priority(Priority::Critical),
        )
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert!(again.deduplicated);
    assert_eq!(again.priority, Priority::Medium);
    assert_eq!(h.store.depth().await.unwrap().total(), 1);
    assert_eq!(h.store.stats().await.unwrap().enqueued, 1);
}

/// Two tenants may use the same idempotency key independently.
pub async fn idempotency_keys_are_per_tenant<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let a = h
        .store
        .enqueue(task("acme").with_idempotency_key("k"))
        .await
        .unwrap();
    let b = h
        .store
        .enqueue(task("globex").with_idempotency_key("k"))
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert!(!b.deduplicated);
}

/// Two tasks with the same key in one batch yield one task.
pub async fn idempotent_duplicates_within_a_batch_collapse<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let out = h
        .store
        .enqueue_batch(vec![
            task("acme").with_idempotency_key("k"),
            task("acme").with_idempotency_key("k"),
        ])
        .await
        .unwrap();
    assert_eq!(out[0].id, out[1].id);
    assert!(!out[0].deduplicated && out[1].deduplicated);
    assert_eq!(h.store.depth().await.unwrap().total(), 1);
}

/// A tenant at `max_queued` is refused with `QueueFull` (retryable); others are not affected.
pub async fn tenant_queue_bound_refuses_excess_tasks<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let policy = TenantPolicy {
        max_queued: Some(2),
        ..TenantPolicy::default()
    };
    h.store
        .set_tenant_policy(&tenant("acme"), policy)
        .await
        .unwrap();
    h.put(task("acme")).await;
    h.put(task("acme")).await;
    let err = h.store.enqueue(task("acme")).await.unwrap_err();
    assert!(
        matches!(err, QueueError::QueueFull { limit: 2, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    h.put(task("globex")).await;
    // A claimed task no longer counts as queued.
    h.claim_with(
        "a1",
        &crate::lease::Eligibility::any().only_tenants(vec![tenant("acme")]),
        1,
    )
    .await;
    h.put(task("acme")).await;
}
