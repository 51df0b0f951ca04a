//! [`Guarded`]: a store under test that keeps its fixtures (a database, a key prefix, a temporary
//! folder) alive as long as itself, so a factory can hand the suite one value.

use std::any::Any;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{Limit, TenantPolicy};
use crate::error::QueueError;
use crate::ids::{AgentId, LimitKey, TaskId, TenantId};
use crate::lease::{Eligibility, Heartbeat, Lease, LeaseToken};
use crate::status::TaskStatus;
use crate::store::{
    CancelOutcome, DeadLetterCursor, DeadLetterFilter, Depth, Enqueued, FailOutcome, QueueStats,
    QueueStore, Requeued, StatusCounts, TaskQuery,
};
use crate::task::{Failure, NewTask, Payload, TaskRecord};

/// `store`, answering every [`QueueStore`] call, and `guard`, dropped after it.
pub struct Guarded<S> {
    store: S,
    _guard: Box<dyn Any + Send + Sync>,
}

impl<S> Guarded<S> {
    /// Wraps `store`; `guard` lives until the wrapper is dropped (after the store).
    pub fn new(store: S, guard: impl Any + Send + Sync) -> Self {
        Self {
            store,
            _guard: Box::new(guard),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
}

impl<S: fmt::Debug> fmt::Debug for Guarded<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: QueueStore> QueueStore for Guarded<S> {
    async fn enqueue_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>, QueueError> {
        self.store.enqueue_batch(tasks).await
    }

    async fn get(&self, id: TaskId) -> Result<TaskRecord, QueueError> {
        self.store.get(id).await
    }

    async fn list(
        &self,
        query: &TaskQuery,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        self.store.list(query, after, limit).await
    }

    async fn count(&self, query: &TaskQuery) -> Result<StatusCounts, QueueError> {
        self.store.count(query).await
    }

    async fn claim(
        &self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
    ) -> Result<Vec<Lease>, QueueError> {
        self.store.claim(agent, eligibility, max).await
    }

    async fn start(&self, token: &LeaseToken) -> Result<(), QueueError> {
        self.store.start(token).await
    }

    async fn heartbeat(&self, token: &LeaseToken) -> Result<Heartbeat, QueueError> {
        self.store.heartbeat(token).await
    }

    async fn ack(&self, token: &LeaseToken, result: Option<Payload>) -> Result<(), QueueError> {
        self.store.ack(token, result).await
    }

    async fn fail(&self, token: &LeaseToken, failure: Failure) -> Result<FailOutcome, QueueError> {
        self.store.fail(token, failure).await
    }

    async fn release(&self, token: &LeaseToken) -> Result<TaskStatus, QueueError> {
        self.store.release(token).await
    }

    async fn cancel(&self, id: TaskId, reason: &str) -> Result<CancelOutcome, QueueError> {
        self.store.cancel(id, reason).await
    }

    async fn reap_expired(&self) -> Result<Vec<Requeued>, QueueError> {
        self.store.reap_expired().await
    }

    async fn fail_over(&self, agent: &AgentId, reason: &str) -> Result<Vec<Requeued>, QueueError> {
        self.store.fail_over(agent, reason).await
    }

    async fn promote_due(&self) -> Result<u64, QueueError> {
        self.store.promote_due().await
    }

    async fn replay(&self, id: TaskId) -> Result<(), QueueError> {
        self.store.replay(id).await
    }

    async fn replay_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<TaskId>, QueueError> {
        self.store.replay_dead_letters(filter).await
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<DeadLetterCursor>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        self.store.dead_letters(filter, after, limit).await
    }

    async fn purge_dead_letters(&self, retention: Duration) -> Result<u64, QueueError> {
        self.store.purge_dead_letters(retention).await
    }

    async fn purge_finished(&self, retention: Duration) -> Result<u64, QueueError> {
        self.store.purge_finished(retention).await
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        self.store.depth().await
    }

    async fn load(&self, agent: &AgentId) -> Result<u32, QueueError> {
        self.store.load(agent).await
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
    ) -> Result<(), QueueError> {
        self.store.set_tenant_policy(tenant, policy).await
    }

    async fn set_limit(&self, key: &LimitKey, limit: Option<Limit>) -> Result<(), QueueError> {
        self.store.set_limit(key, limit).await
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.store.stats().await
    }
}
