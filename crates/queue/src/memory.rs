//! `MemoryQueueStore`: the reference [`QueueStore`], in process memory.
//!
//! One lock guards the whole state, so every operation is atomic and concurrent callers never
//! see a half-done step; operations are short (logarithmic in waiting tasks, except `list` and
//! `count`, which scan the tasks they filter: all, or one group's) and never hold the lock
//! across an `.await`. Nothing survives the process: use it for tests, for embedding
//! where tasks may be lost on exit, and as the ceiling other stores are measured against.

mod journal;
mod keys;
mod lanes;
mod state;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

pub use self::journal::{Counters, JournalBatch, Snapshot, StoredTask};
use self::state::State;
use crate::clock::{Clock, SystemClock};
use crate::config::{Limit, QueueConfig, TenantPolicy};
use crate::error::QueueError;
use crate::ids::{AgentId, LimitKey, TaskId, TenantId};
use crate::lease::{Eligibility, Heartbeat, Lease, LeaseToken};
use crate::retry::{Jitter, NoJitter};
use crate::status::TaskStatus;
use crate::store::{
    CancelOutcome, DeadLetterCursor, DeadLetterFilter, Depth, Enqueued, FailOutcome, QueueStats,
    QueueStore, Requeued, StatusCounts, TaskQuery,
};
use crate::task::{Failure, NewTask, Payload, TaskRecord};

pub(crate) use self::lanes::STRIDE;

/// An in-memory [`QueueStore`], safe for concurrent use (share it in an `Arc`).
pub struct MemoryQueueStore {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
}

impl MemoryQueueStore {
    /// A store with the default [`QueueConfig`], the system clock and no jitter.
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::new(QueueConfig::default())),
            clock: Arc::new(SystemClock),
            jitter: Arc::new(NoJitter),
        }
    }

    /// A store with `config`, reading time from `clock`.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] naming the first configuration field out of range.
    pub fn try_new(config: QueueConfig, clock: Arc<dyn Clock>) -> Result<Self, QueueError> {
        config.validate()?;
        Ok(Self {
            state: Mutex::new(State::new(config)),
            clock,
            jitter: Arc::new(NoJitter),
        })
    }

    /// Uses `jitter` for retry backoff (only matters when the retry policy's `jitter` > 0).
    #[must_use]
    pub fn with_jitter(mut self, jitter: Arc<dyn Jitter>) -> Self {
        self.jitter = jitter;
        self
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> QueueConfig {
        self.lock().config().clone()
    }

    /// Every dead letter matching `filter`, oldest first, as an iterator over a snapshot taken
    /// now (for export, e.g. one JSON line per record).
    pub fn export_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> impl Iterator<Item = TaskRecord> + use<> {
        self.lock().export_dead_letters(filter).into_iter()
    }

    /// Turns the change journal on: from now on every change is recorded for
    /// [`take_journal`](Self::take_journal). A durable store built on this one writes each batch
    /// before it answers the callers whose changes it holds.
    #[must_use]
    pub fn with_journal(self) -> Self {
        self.lock().enable_journal();
        self
    }

    /// The journal's version: it grows with every change (0 while the journal is off). A caller
    /// whose operation returned knows its changes are in every batch up to this version.
    #[must_use]
    pub fn journal_version(&self) -> u64 {
        self.lock().journal_version()
    }

    /// Every change since the previous call, each task in its latest state (empty while the
    /// journal is off).
    #[must_use]
    pub fn take_journal(&self) -> JournalBatch {
        self.lock().take_journal()
    }

    /// A store holding exactly `snapshot` (what a durable store wrote), with `config`, reading
    /// time from `clock`, journal on. Leases keep their fences and expiry; fences and enqueue
    /// order continue after the largest restored. Fair-share passes, token buckets and
    /// statistics start afresh.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] for an out-of-range configuration or a stored task missing a
    /// field its status needs (e.g. a leased task without a fence);
    /// [`QueueError::AlreadyExists`] for a task stored twice.
    pub fn restore(
        config: QueueConfig,
        clock: Arc<dyn Clock>,
        snapshot: Snapshot,
    ) -> Result<Self, QueueError> {
        config.validate()?;
        let mut state = State::restore(config, snapshot, clock.now())?;
        state.enable_journal();
        Ok(Self {
            state: Mutex::new(state),
            clock,
            jitter: Arc::new(NoJitter),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Operations validate their input before they change anything and panic only on a broken
        // internal invariant (a bug, caught by the model test); a later caller recovers the guard
        // rather than failing forever on a poisoned lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryQueueStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryQueueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryQueueStore")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl QueueStore for MemoryQueueStore {
    async fn enqueue_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>, QueueError> {
        let now = self.clock.now();
        self.lock().enqueue_batch(tasks, now)
    }

    async fn get(&self, id: TaskId) -> Result<TaskRecord, QueueError> {
        let now = self.clock.now();
        self.lock().get(id, now)
    }

    async fn list(
        &self,
        query: &TaskQuery,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        let now = self.clock.now();
        Ok(self.lock().list(query, after, limit, now))
    }

    async fn count(&self, query: &TaskQuery) -> Result<StatusCounts, QueueError> {
        let now = self.clock.now();
        Ok(self.lock().count(query, now))
    }

    async fn claim(
        &self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
    ) -> Result<Vec<Lease>, QueueError> {
        let now = self.clock.now();
        Ok(self.lock().claim(agent, eligibility, max, now))
    }

    async fn start(&self, token: &LeaseToken) -> Result<(), QueueError> {
        let now = self.clock.now();
        self.lock().start(token, now)
    }

    async fn heartbeat(&self, token: &LeaseToken) -> Result<Heartbeat, QueueError> {
        let now = self.clock.now();
        self.lock().heartbeat(token, now)
    }

    async fn ack(&self, token: &LeaseToken, result: Option<Payload>) -> Result<(), QueueError> {
        let now = self.clock.now();
        self.lock().ack(token, result, now)
    }

    async fn fail(&self, token: &LeaseToken, failure: Failure) -> Result<FailOutcome, QueueError> {
        let now = self.clock.now();
        self.lock().fail(token, failure, &*self.jitter, now)
    }

    async fn release(&self, token: &LeaseToken) -> Result<TaskStatus, QueueError> {
        let now = self.clock.now();
        self.lock().release(token, now)
    }

    async fn cancel(&self, id: TaskId, reason: &str) -> Result<CancelOutcome, QueueError> {
        let now = self.clock.now();
        self.lock().cancel(id, reason, now)
    }

    async fn reap_expired(&self) -> Result<Vec<Requeued>, QueueError> {
        let now = self.clock.now();
        self.lock().reap_expired(now)
    }

    async fn fail_over(&self, agent: &AgentId, reason: &str) -> Result<Vec<Requeued>, QueueError> {
        let now = self.clock.now();
        self.lock().fail_over(agent, reason, now)
    }

    async fn promote_due(&self) -> Result<u64, QueueError> {
        let now = self.clock.now();
        Ok(self.lock().promote_due(now))
    }

    async fn replay(&self, id: TaskId) -> Result<(), QueueError> {
        let now = self.clock.now();
        self.lock().replay(id, now)
    }

    async fn replay_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<TaskId>, QueueError> {
        let now = self.clock.now();
        self.lock().replay_dead_letters(filter, now)
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<DeadLetterCursor>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        Ok(self.lock().dead_letters(filter, after, limit))
    }

    async fn purge_dead_letters(&self, retention: Duration) -> Result<u64, QueueError> {
        let now = self.clock.now();
        Ok(self.lock().purge_dead_letters(retention, now))
    }

    async fn purge_finished(&self, retention: Duration) -> Result<u64, QueueError> {
        let now = self.clock.now();
        Ok(self.lock().purge_finished(retention, now))
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        let now = self.clock.now();
        Ok(self.lock().depth(now))
    }

    async fn load(&self, agent: &AgentId) -> Result<u32, QueueError> {
        Ok(self.lock().load(agent))
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
    ) -> Result<(), QueueError> {
        let now = self.clock.now();
        self.lock().set_tenant_policy(tenant, policy, now)
    }

    async fn set_limit(&self, key: &LimitKey, limit: Option<Limit>) -> Result<(), QueueError> {
        let now = self.clock.now();
        self.lock().set_limit(key, limit, now)
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        Ok(self.lock().stats())
    }
}
