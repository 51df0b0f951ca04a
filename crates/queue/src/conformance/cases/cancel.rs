//! Cancel: immediate for waiting tasks, a request for leased ones, cascading to dependents.

use std::time::Duration;

use crate::conformance::StoreFactory;
use crate::conformance::harness::{Harness, task};
use crate::error::QueueError;
use crate::status::TaskStatus;
use crate::store::{CancelOutcome, FailOutcome, QueueStore};
use crate::task::Failure;

/// Pending, scheduled and failed tasks are cancelled at once and never claimed after.
pub async fn cancel_of_waiting_tasks_is_immediate<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let pending = h.put(task("acme")).await;
    let scheduled = h
        .put(task("acme").scheduled_at(h.now() + Duration::from_secs(60)))
        .await;
    let failed = h.put(task("acme")).await;
    let leases = h.claim("a1", 2).await;
    assert_eq!(
        leases.iter().map(|l| l.token.task).collect::<Vec<_>>(),
        vec![pending, failed]
    );
    h.store.release(&leases[0].token).await.unwrap();
    h.store
        .fail(&leases[1].token, Failure::retryable("x"))
        .await
        .unwrap();
    assert_eq!(h.status(failed).await, TaskStatus::Failed);

    for id in [pending, scheduled, failed] {
        assert_eq!(
            h.store.cancel(id, "not needed").await.unwrap(),
            CancelOutcome::Cancelled
        );
        let record = h.store.get(id).await.unwrap();
        assert_eq!(record.status, TaskStatus::Cancelled);
        assert_eq!(record.last_error.as_deref(), Some("not needed"));
        assert_eq!(record.finished_at, Some(h.now()));
    }
    h.advance(Duration::from_secs(120));
    let left: Vec<_> = h
        .claim("a1", 10)
        .await
        .into_iter()
        .map(|l| l.token.task)
        .collect();
    assert!(
        !left.contains(&failed) && !left.contains(&scheduled),
        "{left:?}"
    );
    assert_eq!(h.store.depth().await.unwrap().total(), 0);
}

/// Cancelling a leased task asks the holder to stop (seen on heartbeat); the holder's failure
/// report then cancels it instead of retrying it.
pub async fn cancel_of_leased_task_is_a_request_the_holder_confirms<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    h.store.start(&lease.token).await.unwrap();
    assert_eq!(
        h.store.cancel(id, "user asked").await.unwrap(),
        CancelOutcome::Requested
    );
    assert_eq!(
        h.store.cancel(id, "user asked").await.unwrap(),
        CancelOutcome::Requested
    );
    let record = h.store.get(id).await.unwrap();
    assert_eq!(record.status, TaskStatus::Running);
    assert!(record.cancel_requested);
    assert!(
        h.store
            .heartbeat(&lease.token)
            .await
            .unwrap()
            .cancel_requested
    );
    let out = h
        .store
        .fail(&lease.token, Failure::retryable("aborted"))
        .await
        .unwrap();
    assert_eq!(out, FailOutcome::Cancelled);
    assert_eq!(h.status(id).await, TaskStatus::Cancelled);
    assert_eq!(h.load("a1").await, 0);
}

/// Completed and cancelled tasks cannot be cancelled.
pub async fn cancel_of_finished_task_is_illegal<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    h.store.ack(&lease.token, None).await.unwrap();
    let err = h.store.cancel(id, "late").await.unwrap_err();
    assert!(
        matches!(
            err,
            QueueError::IllegalTransition {
                from: TaskStatus::Completed,
                to: TaskStatus::Cancelled,
                ..
            }
        ),
        "{err}"
    );
    let other = h.put(task("acme")).await;
    h.store.cancel(other, "once").await.unwrap();
    assert!(matches!(
        h.store.cancel(other, "twice").await,
        Err(QueueError::IllegalTransition { .. })
    ));
    assert!(matches!(
        h.store.cancel(crate::ids::TaskId::from_u128(9), "x").await,
        Err(QueueError::NotFound(_))
    ));
}

/// Cancelling a task cancels, transitively, the tasks blocked on it, saying why.
pub async fn cancel_cascades_to_blocked_dependents<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let root = h.put(task("acme")).await;
    let child = h.put(task("acme").depends_on(root)).await;
    let grandchild = h.put(task("acme").depends_on(child)).await;
    let unrelated = h.put(task("acme")).await;
    h.store.cancel(root, "abandoned").await.unwrap();
    for id in [child, grandchild] {
        let record = h.store.get(id).await.unwrap();
        assert_eq!(record.status, TaskStatus::Cancelled, "{id}");
        assert!(
            record
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("dependency")),
            "{record:?}"
        );
    }
    assert_eq!(h.status(unrelated).await, TaskStatus::Pending);
}
