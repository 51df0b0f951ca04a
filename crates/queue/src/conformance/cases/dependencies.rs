//! Dependencies, delayed tasks and priority inheritance.

use std::time::Duration;

use crate::conformance::StoreFactory;
use crate::conformance::harness::{Harness, task};
use crate::error::QueueError;
use crate::priority::Priority;
use crate::status::TaskStatus;
use crate::store::QueueStore;
use crate::task::Failure;

/// A task waits `blocked` (not due, not counted in depth) until all its dependencies
/// complete, then becomes pending.
pub async fn dependent_waits_until_every_dependency_completes<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let a = h.put(task("acme")).await;
    let b = h.put(task("acme")).await;
    let c = h.put(task("acme").depends_on(a).depends_on(b)).await;
    assert_eq!(h.status(c).await, TaskStatus::Blocked);
    assert_eq!(h.store.depth().await.unwrap().total(), 2);
    let first = h.claim_one("a1").await;
    h.store.ack(&first.token, None).await.unwrap();
    assert_eq!(
        h.status(c).await,
        TaskStatus::Blocked,
        "one dependency is still open"
    );
    let second = h.claim_one("a1").await;
    assert_ne!(second.token.task, c);
    h.store.ack(&second.token, None).await.unwrap();
    assert_eq!(h.status(c).await, TaskStatus::Pending);
    assert_eq!(h.claim_one("a1").await.token.task, c);
    // A dependency that is already complete is met at once.
    let d = h.put(task("acme").depends_on(a)).await;
    assert_eq!(h.status(d).await, TaskStatus::Pending);
}

/// When a dependency is dead-lettered, its dependents are cancelled.
pub async fn dead_lettered_dependency_cancels_dependents<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let dep = h.put(task("acme")).await;
    let child = h.put(task("acme").depends_on(dep)).await;
    let lease = h.claim_one("a1").await;
    h.store
        .fail(&lease.token, Failure::permanent("bad input"))
        .await
        .unwrap();
    assert_eq!(h.status(dep).await, TaskStatus::DeadLetter);
    assert_eq!(h.status(child).await, TaskStatus::Cancelled);
}

/// A dependency of another tenant is treated as missing (tenants never see each other).
pub async fn dependency_on_another_tenant_is_unknown<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let theirs = h.put(task("globex")).await;
    let err = h
        .store
        .enqueue(task("acme").depends_on(theirs))
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueueError::UnknownDependency { dependency, .. } if dependency == theirs),
        "{err}"
    );
}

/// A task whose dependency is already cancelled is created cancelled.
pub async fn dependency_already_cancelled_cancels_the_new_task<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let dep = h.put(task("acme")).await;
    h.store.cancel(dep, "no").await.unwrap();
    let out = h.store.enqueue(task("acme").depends_on(dep)).await.unwrap();
    assert_eq!(out.status, TaskStatus::Cancelled);
}

/// A delayed task is neither claimable nor counted in depth before `scheduled_at`.
pub async fn delayed_task_is_not_due_before_its_time<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let at = h.now() + Duration::from_secs(60);
    let out = h
        .store
        .enqueue(
            task("acme")
                .with_priority(Priority::Critical)
                .scheduled_at(at),
        )
        .await
        .unwrap();
    assert_eq!(out.status, TaskStatus::Scheduled);
    let later = h.put_at("acme", Priority::Low).await;
    assert_eq!(h.claim_ids("a1", 5).await, vec![later]);
    h.advance(Duration::from_secs(59));
    assert_eq!(h.store.depth().await.unwrap().total(), 0);
    assert!(h.claim("a1", 1).await.is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.store.depth().await.unwrap().at(Priority::Critical), 1);
    assert_eq!(h.claim_one("a1").await.token.task, out.id);
    // A time in the past means due now.
    let past = h
        .store
        .enqueue(task("acme").scheduled_at(h.now() - Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(past.status, TaskStatus::Pending);
}

/// `promote_due` moves every due scheduled or failed task to pending and counts them.
pub async fn promote_due_moves_due_tasks_to_pending<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let soon = h
        .put(task("acme").scheduled_at(h.now() + Duration::from_secs(5)))
        .await;
    let late = h
        .put(task("acme").scheduled_at(h.now() + Duration::from_secs(500)))
        .await;
    assert_eq!(h.store.promote_due().await.unwrap(), 0);
    h.advance(Duration::from_secs(5));
    assert_eq!(h.store.promote_due().await.unwrap(), 1);
    assert_eq!(h.status(soon).await, TaskStatus::Pending);
    assert_eq!(h.status(late).await, TaskStatus::Scheduled);
}

/// A child with no priority of its own takes its parent's; an explicit one wins.
pub async fn child_inherits_parent_priority<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let parent = h.put_at("acme", Priority::Critical).await;
    let child = h
        .store
        .enqueue(task("acme").with_parent(parent))
        .await
        .unwrap();
    assert_eq!(child.priority, Priority::Critical);
    let explicit = h
        .store
        .enqueue(
            task("acme")
                .with_parent(parent)
                .with_priority(Priority::Low),
        )
        .await
        .unwrap();
    assert_eq!(explicit.priority, Priority::Low);
    assert_eq!(h.store.get(child.id).await.unwrap().parent_id, Some(parent));
}

/// A parent that does not exist for the tenant is refused.
pub async fn unknown_parent_is_refused<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let theirs = h.put(task("globex")).await;
    let err = h
        .store
        .enqueue(task("acme").with_parent(theirs))
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueueError::UnknownParent { parent, .. } if parent == theirs),
        "{err}"
    );
}
