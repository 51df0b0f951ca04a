//! Group commit: one background task writes the journal to SQLite, many callers wait on it.
//!
//! A caller whose operation changed the queue learns the journal version that covers its change
//! and waits until the writer reports that version durable. The writer takes everything the
//! journal holds at once, so all operations that finished while the previous transaction was
//! committing share the next one: the cost of an fsync is paid per batch, not per caller.
//! A failed write is reported to the callers waiting on it (they get `Unavailable`) and retried,
//! merged with later changes, until it succeeds.

use std::sync::{Arc, Weak};
use std::time::Duration;

use godel_queue::{JournalBatch, MemoryQueueStore, QueueError, StoredTask, TaskId};
use rustc_hash::FxHashMap;
use sqlx::SqlitePool;
use tokio::sync::{Notify, watch};

use super::rows;

/// How long the writer waits before retrying a failed write.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// What the writer has made durable.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Every change up to this journal version is on disk.
    durable: u64,
    /// The last failed write: changes up to this version could not be written (yet).
    failed: Option<(u64, String)>,
}

/// The handle callers wait on.
#[derive(Debug)]
pub(super) struct Writer {
    wake: Notify,
    progress: watch::Sender<Progress>,
}

impl Writer {
    /// Starts the background writer for `memory`'s journal; it stops when `memory` is dropped.
    pub(super) fn start(memory: &Arc<MemoryQueueStore>, pool: SqlitePool) -> Arc<Self> {
        let writer = Arc::new(Self {
            wake: Notify::new(),
            progress: watch::channel(Progress::default()).0,
        });
        tokio::spawn(run(Arc::downgrade(memory), Arc::downgrade(&writer), pool));
        writer
    }

    /// Waits until every change up to journal version `version` is durable.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the write holding those changes failed; the writer keeps
    /// retrying it, so the change may still become durable later.
    pub(super) async fn durable(&self, version: u64) -> Result<(), QueueError> {
        if self.progress.borrow().durable >= version {
            return Ok(());
        }
        let mut progress = self.progress.subscribe();
        self.wake.notify_one();
        let seen_failure = progress.borrow().failed.clone();
        let outcome = progress
            .wait_for(|p| p.durable >= version || (p.failed.is_some() && p.failed != seen_failure))
            .await
            .map(|p| p.clone());
        match outcome {
            Ok(p) if p.durable >= version => Ok(()),
            Ok(p) => Err(QueueError::Unavailable {
                message: format!(
                    "sqlite: the change could not be written: {}",
                    p.failed.map_or_else(String::new, |(_, e)| e)
                ),
                source: None,
            }),
            Err(_) => Err(QueueError::Unavailable {
                message: "sqlite: the queue writer stopped".into(),
                source: None,
            }),
        }
    }

    /// Wakes the writer so it can notice that its store is gone.
    pub(super) fn stop(&self) {
        self.wake.notify_one();
    }
}

async fn run(memory: Weak<MemoryQueueStore>, writer: Weak<Writer>, pool: SqlitePool) {
    let mut unwritten: Option<JournalBatch> = None;
    loop {
        let Some(handle) = writer.upgrade() else {
            return;
        };
        if unwritten.is_none() {
            handle.wake.notified().await;
        }
        let Some(store) = memory.upgrade() else {
            return;
        };
        let batch = merge(unwritten.take(), store.take_journal());
        drop(store);
        if batch.is_empty() {
            handle.progress.send_if_modified(|p| {
                let moved = p.durable < batch.version;
                p.durable = p.durable.max(batch.version);
                moved
            });
            continue;
        }
        match rows::write(&pool, &batch).await {
            Ok(()) => {
                handle.progress.send_modify(|p| {
                    p.durable = p.durable.max(batch.version);
                    p.failed = None;
                });
            }
            Err(error) => {
                tracing::warn!(%error, version = batch.version, "sqlite queue write failed; retrying");
                handle
                    .progress
                    .send_modify(|p| p.failed = Some((batch.version, error.to_string())));
                unwritten = Some(batch);
                drop(handle);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// One batch holding `older` and then `newer`: the later state of a task wins, and a task
/// removed after it changed (or changed after it was removed) ends up in only one list.
fn merge(older: Option<JournalBatch>, newer: JournalBatch) -> JournalBatch {
    let Some(older) = older else { return newer };
    let mut tasks: FxHashMap<TaskId, StoredTask> =
        older.tasks.into_iter().map(|t| (t.record.id, t)).collect();
    let mut removed: Vec<TaskId> = older.removed;
    for id in &newer.removed {
        tasks.remove(id);
    }
    removed.retain(|id| !newer.tasks.iter().any(|t| t.record.id == *id));
    removed.extend(newer.removed);
    removed.sort_unstable();
    removed.dedup();
    for task in newer.tasks {
        tasks.insert(task.record.id, task);
    }
    let mut tasks: Vec<StoredTask> = tasks.into_values().collect();
    tasks.sort_unstable_by_key(|t| t.record.seq);
    let mut policies = older.policies;
    policies.extend(newer.policies);
    let mut limits = older.limits;
    limits.extend(newer.limits);
    JournalBatch {
        version: newer.version.max(older.version),
        tasks,
        removed,
        policies,
        limits,
        counters: newer.counters,
    }
}

#[cfg(test)]
mod tests {
    use godel_queue::{NewTask, QueueStore, TenantId};
    use serde_json::json;

    use super::*;

    async fn batch_after(store: &MemoryQueueStore, tasks: usize) -> (JournalBatch, Vec<TaskId>) {
        let mut ids = Vec::new();
        for _ in 0..tasks {
            let task = NewTask::new(TenantId::parse("acme").unwrap(), json!({}));
            ids.push(store.enqueue(task).await.unwrap().id);
        }
        (store.take_journal(), ids)
    }

    #[tokio::test]
    async fn a_merged_batch_keeps_the_latest_state_and_drops_what_was_purged() {
        let store = MemoryQueueStore::new().with_journal();
        let (older, ids) = batch_after(&store, 2).await;
        store.cancel(ids[0], "stop").await.unwrap();
        let (newer, _) = batch_after(&store, 0).await;
        let merged = merge(Some(older.clone()), newer.clone());
        assert_eq!(merged.version, newer.version);
        assert_eq!(merged.tasks.len(), 2);
        let first = merged.tasks.iter().find(|t| t.record.id == ids[0]).unwrap();
        assert_eq!(first.record.status, godel_queue::TaskStatus::Cancelled);

        let purged = JournalBatch {
            version: newer.version + 1,
            removed: vec![ids[1]],
            ..JournalBatch::default()
        };
        let merged = merge(Some(merged), purged);
        assert!(merged.tasks.iter().all(|t| t.record.id != ids[1]));
        assert_eq!(merged.removed, vec![ids[1]]);
    }
}
