//! Retry with backoff, dead letter, replay, listing and purge.

use std::time::Duration;

use crate::config::QueueConfig;
use crate::conformance::StoreFactory;
use crate::conformance::harness::{Harness, task};
use crate::error::QueueError;
use crate::priority::Priority;
use crate::status::TaskStatus;
use crate::store::{DeadLetterCursor, DeadLetterFilter, FailOutcome, QueueStore};
use crate::task::Failure;

const SEC: Duration = Duration::from_secs(1);

/// Drives `id` (already enqueued) to the dead letter queue with one permanent failure.
async fn dead_letter<S: QueueStore>(h: &Harness<S>, agent: &str, message: &str) {
    let lease = h.claim_one(agent).await;
    let out = h
        .store
        .fail(&lease.token, Failure::permanent(message))
        .await
        .unwrap();
    assert_eq!(out, FailOutcome::DeadLettered);
}

/// A retryable failure waits 1 s, then 2 s after the second (defaults of PRD FR-3); the task
/// is not claimable before its time and is claimable at it.
pub async fn failure_waits_for_exponential_backoff<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme").with_max_attempts(5)).await;
    for (attempt, backoff) in [(1, SEC), (2, 2 * SEC), (3, 4 * SEC)] {
        let lease = h.claim_one("a1").await;
        assert_eq!(lease.attempt, attempt);
        let out = h
            .store
            .fail(&lease.token, Failure::retryable("provider 503"))
            .await
            .unwrap();
        assert_eq!(
            out,
            FailOutcome::Retrying {
                attempt_count: attempt,
                due_at: h.now() + backoff
            }
        );
        let record = h.store.get(id).await.unwrap();
        assert_eq!(record.status, TaskStatus::Failed);
        assert_eq!(record.last_error.as_deref(), Some("provider 503"));
        h.advance(backoff - Duration::from_millis(1));
        assert!(
            h.claim("a1", 1).await.is_empty(),
            "not due before its backoff"
        );
        assert_eq!(h.store.depth().await.unwrap().total(), 0);
        h.advance(Duration::from_millis(1));
    }
    assert_eq!(h.claim_one("a1").await.attempt, 4);
}

/// A `retry_after` longer than the backoff is waited out in full.
pub async fn retry_after_longer_than_backoff_is_honoured<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put(task("acme")).await;
    let lease = h.claim_one("a1").await;
    let failure = Failure::retryable("rate limited").with_retry_after(10 * SEC);
    let out = h.store.fail(&lease.token, failure).await.unwrap();
    assert_eq!(
        out,
        FailOutcome::Retrying {
            attempt_count: 1,
            due_at: h.now() + 10 * SEC
        }
    );
    h.advance(9 * SEC);
    assert!(h.claim("a1", 1).await.is_empty());
    h.advance(SEC);
    assert_eq!(h.claim("a1", 1).await.len(), 1);
}

/// The failure that uses the last attempt dead-letters the task, stamped with the time.
pub async fn failure_at_max_attempts_dead_letters<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme")).await;
    for n in 1..=3u32 {
        let lease = h.claim_one("a1").await;
        let out = h
            .store
            .fail(&lease.token, Failure::retryable(format!("boom {n}")))
            .await
            .unwrap();
        if n < 3 {
            assert!(
                matches!(out, FailOutcome::Retrying { .. }),
                "attempt {n}: {out:?}"
            );
            h.advance(60 * SEC);
        } else {
            assert_eq!(out, FailOutcome::DeadLettered);
        }
    }
    let record = h.store.get(id).await.unwrap();
    assert_eq!(record.status, TaskStatus::DeadLetter);
    assert_eq!(record.attempt_count, 3);
    assert_eq!(record.dead_lettered_at, Some(h.now()));
    assert_eq!(record.last_error.as_deref(), Some("boom 3"));
    assert_eq!(h.store.stats().await.unwrap().dead_lettered, 1);
}

/// A non-retryable failure dead-letters at once, whatever attempts remain.
pub async fn permanent_failure_dead_letters_at_once<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme").with_max_attempts(10)).await;
    dead_letter(&h, "a1", "invalid prompt").await;
    let record = h.store.get(id).await.unwrap();
    assert_eq!(
        (record.status, record.attempt_count),
        (TaskStatus::DeadLetter, 1)
    );
}

/// Replay puts a dead letter back as pending with no attempts counted.
pub async fn replay_restores_a_dead_letter_with_fresh_attempts<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme")).await;
    dead_letter(&h, "a1", "bad").await;
    h.store.replay(id).await.unwrap();
    let record = h.store.get(id).await.unwrap();
    assert_eq!(
        (record.status, record.attempt_count),
        (TaskStatus::Pending, 0)
    );
    assert!(record.dead_lettered_at.is_none());
    assert_eq!(h.claim_one("a1").await.attempt, 1);
}

/// Replay is only for dead letters.
pub async fn replay_of_a_live_task_is_refused<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h.put(task("acme")).await;
    let err = h.store.replay(id).await.unwrap_err();
    assert!(
        matches!(
            err,
            QueueError::NotDeadLettered {
                status: TaskStatus::Pending,
                ..
            }
        ),
        "{err}"
    );
}

/// Replay by filter replays the matching dead letters, oldest first, and leaves the rest.
pub async fn replay_by_filter_touches_only_matching_dead_letters<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let a1 = h.put(task("acme").with_priority(Priority::High)).await;
    dead_letter(&h, "x", "timeout talking to gateway").await;
    h.advance(SEC);
    let g = h.put(task("globex").with_priority(Priority::High)).await;
    dead_letter(&h, "x", "timeout talking to gateway").await;
    h.advance(SEC);
    let a2 = h.put(task("acme").with_priority(Priority::High)).await;
    dead_letter(&h, "x", "schema error").await;

    let filter = DeadLetterFilter {
        tenant: Some(crate::conformance::harness::tenant("acme")),
        error_contains: Some("timeout".into()),
        ..DeadLetterFilter::default()
    };
    assert_eq!(
        h.store.replay_dead_letters(&filter).await.unwrap(),
        vec![a1]
    );
    assert_eq!(h.status(a1).await, TaskStatus::Pending);
    assert_eq!(h.status(g).await, TaskStatus::DeadLetter);
    assert_eq!(h.status(a2).await, TaskStatus::DeadLetter);
    let all = h
        .store
        .replay_dead_letters(&DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(all, vec![g, a2]);
}

/// Dead letters list in (dead_lettered_at, id) order, page by page, with filters.
pub async fn dead_letters_page_in_order<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.put(task("acme").with_priority(Priority::Critical)).await);
        dead_letter(&h, "a1", "bad").await;
        h.advance(SEC);
    }
    let all = DeadLetterFilter::default();
    let first = h.store.dead_letters(&all, None, 2).await.unwrap();
    let cursor = DeadLetterCursor::after(first.last().unwrap());
    let second = h.store.dead_letters(&all, cursor, 10).await.unwrap();
    let paged: Vec<_> = first.iter().chain(&second).map(|r| r.id).collect();
    assert_eq!(paged, ids);
    let since = DeadLetterFilter {
        since: Some(h.now() - 2 * SEC),
        ..all.clone()
    };
    assert_eq!(
        h.store.dead_letters(&since, None, 10).await.unwrap().len(),
        2
    );
    let low = DeadLetterFilter {
        priority: Some(Priority::Low),
        ..all
    };
    assert!(
        h.store
            .dead_letters(&low, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Purge deletes dead letters older than the retention and keeps younger ones.
pub async fn purge_removes_dead_letters_past_retention<F: StoreFactory>(f: &F) {
    let h = Harness::with_config(f, QueueConfig::default()).await;
    let old = h.put(task("acme")).await;
    dead_letter(&h, "a1", "bad").await;
    h.advance(Duration::from_secs(6 * 86_400));
    let young = h.put(task("acme")).await;
    dead_letter(&h, "a1", "bad").await;
    h.advance(Duration::from_secs(86_400) + SEC);
    assert_eq!(
        h.store
            .purge_dead_letters(Duration::from_secs(7 * 86_400))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        h.store.get(old).await,
        Err(QueueError::NotFound(_))
    ));
    assert_eq!(h.status(young).await, TaskStatus::DeadLetter);
}

/// Purging finished tasks deletes them and frees their idempotency keys.
pub async fn purge_finished_frees_idempotency_keys<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let first = h.put(task("acme").with_idempotency_key("nightly")).await;
    let lease = h.claim_one("a1").await;
    h.store.ack(&lease.token, None).await.unwrap();
    let live = h.put(task("acme")).await;
    h.advance(Duration::from_secs(3600));
    assert_eq!(
        h.store
            .purge_finished(Duration::from_secs(60))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        h.store.get(first).await,
        Err(QueueError::NotFound(_))
    ));
    assert_eq!(h.status(live).await, TaskStatus::Pending);
    let again = h
        .store
        .enqueue(task("acme").with_idempotency_key("nightly"))
        .await
        .unwrap();
    assert!(!again.deduplicated);
    assert_ne!(again.id, first);
}
