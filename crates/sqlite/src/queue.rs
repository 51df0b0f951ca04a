//! `SqliteQueueStore`: the queue of the embedded store, durable in the SQLite file.
//!
//! The queue's logic is the reference memory store's, not a second copy of it: a
//! [`MemoryQueueStore`] with its change journal on answers every operation, and each operation
//! that changed something returns only once a group commit (see the `writer` module) has written its changes
//! to the `queue_*` tables. Opening the store reads those tables back
//! ([`MemoryQueueStore::restore`]), so a restart finds every accepted task as it was left:
//! leases keep their fences (and expire as usual), fair-share passes and token buckets start
//! afresh.
//!
//! One process owns the queue of a file: [`SqliteQueueStore::open`] takes an exclusive lock on
//! `<database>.queue-lock` and refuses to open while another process holds it.

mod rows;
mod writer;

use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use godel_queue::{
    AgentId, CancelOutcome, Clock, DeadLetterCursor, DeadLetterFilter, Depth, Eligibility,
    Enqueued, FailOutcome, Failure, Heartbeat, Lease, LeaseToken, Limit, LimitKey,
    MemoryQueueStore, NewTask, Payload, QueueConfig, QueueError, QueueStats, QueueStore, Requeued,
    StatusCounts, TaskId, TaskQuery, TaskRecord, TaskStatus, TenantId, TenantPolicy,
};
use sqlx::SqlitePool;

use self::writer::Writer;

/// The embedded store's [`QueueStore`]: answers from memory, durable in SQLite before it answers.
#[derive(Debug)]
pub struct SqliteQueueStore {
    memory: Arc<MemoryQueueStore>,
    writer: Arc<Writer>,
    /// The exclusive lock on the queue of a file database, held while the store lives.
    _owner: Option<File>,
}

impl SqliteQueueStore {
    /// Opens the queue kept in `pool`'s database, restoring every task it holds.
    ///
    /// `lock` names the file that marks this process as the queue's owner (for a file database,
    /// `<database>.queue-lock`; `None` for an in-memory database that no other process can see).
    ///
    /// # Errors
    /// [`QueueError::Invalid`] for an out-of-range configuration;
    /// [`QueueError::Unavailable`] when another process owns the queue, or the tables cannot be
    /// read or hold something unreadable.
    pub async fn open(
        pool: SqlitePool,
        lock: Option<&Path>,
        config: QueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QueueError> {
        let owner = lock.map(take_ownership).transpose()?;
        let snapshot = rows::read(&pool).await?;
        let tasks = snapshot.tasks.len();
        let memory = Arc::new(MemoryQueueStore::restore(config, clock, snapshot)?);
        tracing::info!(tasks, "sqlite queue restored");
        let writer = Writer::start(&memory, pool);
        Ok(Self {
            memory,
            writer,
            _owner: owner,
        })
    }

    /// Returns once every change made so far is durable.
    async fn durable<T>(&self, result: Result<T, QueueError>) -> Result<T, QueueError> {
        let value = result?;
        self.writer.durable(self.memory.journal_version()).await?;
        Ok(value)
    }

    /// Every dead letter matching `filter`, oldest first (for export).
    pub fn export_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> impl Iterator<Item = TaskRecord> + use<> {
        self.memory.export_dead_letters(filter)
    }
}

impl Drop for SqliteQueueStore {
    fn drop(&mut self) {
        self.writer.stop();
    }
}

/// Locks `path` exclusively for this process, or says who is in the way.
fn take_ownership(path: &Path) -> Result<File, QueueError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| QueueError::unavailable(format!("sqlite: open {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(QueueError::Unavailable {
            message: format!(
                "sqlite: another process owns this queue (lock {} is held); stop it or use another data directory",
                path.display()
            ),
            source: None,
        }),
        Err(TryLockError::Error(e)) => Err(QueueError::unavailable(
            format!("sqlite: lock {}", path.display()),
            e,
        )),
    }
}

#[async_trait]
impl QueueStore for SqliteQueueStore {
    async fn enqueue_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>, QueueError> {
        self.durable(self.memory.enqueue_batch(tasks).await).await
    }

    async fn get(&self, id: TaskId) -> Result<TaskRecord, QueueError> {
        self.memory.get(id).await
    }

    async fn list(
        &self,
        query: &TaskQuery,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        self.memory.list(query, after, limit).await
    }

    async fn count(&self, query: &TaskQuery) -> Result<StatusCounts, QueueError> {
        self.memory.count(query).await
    }

    async fn claim(
        &self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
    ) -> Result<Vec<Lease>, QueueError> {
        self.durable(self.memory.claim(agent, eligibility, max).await)
            .await
    }

    async fn start(&self, token: &LeaseToken) -> Result<(), QueueError> {
        self.durable(self.memory.start(token).await).await
    }

    async fn heartbeat(&self, token: &LeaseToken) -> Result<Heartbeat, QueueError> {
        self.durable(self.memory.heartbeat(token).await).await
    }

    async fn ack(&self, token: &LeaseToken, result: Option<Payload>) -> Result<(), QueueError> {
        self.durable(self.memory.ack(token, result).await).await
    }

    async fn fail(&self, token: &LeaseToken, failure: Failure) -> Result<FailOutcome, QueueError> {
        self.durable(self.memory.fail(token, failure).await).await
    }

    async fn release(&self, token: &LeaseToken) -> Result<TaskStatus, QueueError> {
        self.durable(self.memory.release(token).await).await
    }

    async fn cancel(&self, id: TaskId, reason: &str) -> Result<CancelOutcome, QueueError> {
        self.durable(self.memory.cancel(id, reason).await).await
    }

    async fn reap_expired(&self) -> Result<Vec<Requeued>, QueueError> {
        self.durable(self.memory.reap_expired().await).await
    }

    async fn fail_over(&self, agent: &AgentId, reason: &str) -> Result<Vec<Requeued>, QueueError> {
        self.durable(self.memory.fail_over(agent, reason).await)
            .await
    }

    async fn promote_due(&self) -> Result<u64, QueueError> {
        self.durable(self.memory.promote_due().await).await
    }

    async fn replay(&self, id: TaskId) -> Result<(), QueueError> {
        self.durable(self.memory.replay(id).await).await
    }

    async fn replay_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<TaskId>, QueueError> {
        self.durable(self.memory.replay_dead_letters(filter).await)
            .await
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<DeadLetterCursor>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        self.memory.dead_letters(filter, after, limit).await
    }

    async fn purge_dead_letters(&self, retention: Duration) -> Result<u64, QueueError> {
        self.durable(self.memory.purge_dead_letters(retention).await)
            .await
    }

    async fn purge_finished(&self, retention: Duration) -> Result<u64, QueueError> {
        self.durable(self.memory.purge_finished(retention).await)
            .await
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        self.memory.depth().await
    }

    async fn load(&self, agent: &AgentId) -> Result<u32, QueueError> {
        self.memory.load(agent).await
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
    ) -> Result<(), QueueError> {
        self.durable(self.memory.set_tenant_policy(tenant, policy).await)
            .await
    }

    async fn set_limit(&self, key: &LimitKey, limit: Option<Limit>) -> Result<(), QueueError> {
        self.durable(self.memory.set_limit(key, limit).await).await
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.memory.stats().await
    }
}
