//! [`PairedQueueStore`]: every write on Postgres first, then mirrored into the Redis index;
//! reads from Postgres; claims picked in Redis and adopted by Postgres.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use godel_engine::combine::{Grouping, LazyCombiner};
use godel_postgres::queue::{AdoptLease, PgQueueStore};
use godel_queue::{
    AgentId, CancelOutcome, DeadLetterCursor, DeadLetterFilter, Depth, Eligibility, Enqueued,
    FailOutcome, Failure, Heartbeat, Lease, LeaseToken, Limit, LimitKey, NewTask, Payload,
    QueueError, QueueStats, QueueStore, Requeued, StatusCounts, TaskId, TaskQuery, TaskRecord,
    TaskStatus, TenantId, TenantPolicy,
};
use godel_redis::RedisQueueStore;
use tokio::sync::RwLock;

use super::mirror::{MirrorRequest, Mirrors, Stripes};

/// Whether the Redis index is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexHealth {
    /// Redis is reachable and its index was rebuilt from Postgres: claims go through it.
    Indexed,
    /// Redis is unreachable, lost its index, or the index is being rebuilt: the queue runs on
    /// Postgres alone (`FOR UPDATE SKIP LOCKED` claims) until the reconciler rebuilds it.
    Degraded {
        /// Why.
        reason: String,
    },
}

/// Most mirrors one group serves.
const MAX_MIRRORS: usize = 256;

/// The index's state as the store tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    /// In use.
    Indexed,
    /// Being rebuilt: claims go to Postgres, mirrors wait for the rebuild.
    Rebuilding,
    /// Not in use (unreachable, lost, not yet built): mirrors are skipped.
    Down(String),
}

/// What the store's parts share.
pub(super) struct Inner {
    /// The truth.
    pub(super) pg: Arc<PgQueueStore>,
    /// The index.
    pub(super) redis: Arc<RedisQueueStore>,
    /// The index's state.
    pub(super) state: Mutex<State>,
    /// Mirrors and Redis claims hold it shared; a rebuild holds it exclusively.
    pub(super) gate: RwLock<()>,
    /// Postgres claims made while the index is not in use hold it shared; a rebuild holds it
    /// exclusively while it carries Postgres's fence over to Redis and switches to indexed.
    pub(super) pg_claims: RwLock<()>,
    /// One rebuild at a time.
    pub(super) rebuilding: tokio::sync::Mutex<()>,
    /// Orders mirrors of one task.
    pub(super) stripes: Stripes,
}

impl Inner {
    /// The index's state now.
    pub(super) fn state(&self) -> State {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the state.
    pub(super) fn set_state(&self, state: State) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// The index's sentinel, or `None` (the store then degraded) when it is gone or Redis
    /// failed.
    pub(super) async fn index_epoch(&self) -> Option<String> {
        match self.redis.index_epoch().await {
            Ok(Some(epoch)) => Some(epoch),
            Ok(None) => {
                self.degrade("the redis index was lost (sentinel missing)");
                None
            }
            Err(error) => {
                self.degrade(format!("redis unreachable: {error}"));
                None
            }
        }
    }

    /// Stops using the index for `reason`, warning once. Only an index in use is stopped: a
    /// rebuild under way replaces whatever the failure left behind (and if the rebuild fails
    /// itself, it leaves the store down).
    pub(super) fn degrade(&self, reason: impl fmt::Display) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if *state == State::Indexed {
            tracing::warn!(%reason, "queue index degraded: serving from postgres alone");
            *state = State::Down(reason.to_string());
        }
    }
}

/// The production [`QueueStore`]: Postgres holds the truth, Redis the index (DESIGN §4).
///
/// - Every write runs on Postgres first and is durable when it returns; then, while the index
///   is in use, the tasks it affected (and the dependents it moved) are re-read from Postgres
///   and restored into Redis, one task at a time in order.
/// - Reads come from Postgres.
/// - A claim is picked and leased by Redis, then adopted by Postgres in one transaction; a
///   lease Postgres refuses (the index was stale) is dropped and the task mirrored again.
/// - Any Redis error, or a lost index, degrades the store to Postgres alone; the operation
///   still succeeds there. [`reconcile`](Self::reconcile) (or the background
///   [`spawn_reconciler`](Self::spawn_reconciler)) rebuilds the index and resumes it.
///
/// Cheap to clone: clones share the stores and the index state.
#[derive(Clone)]
pub struct PairedQueueStore {
    pub(super) inner: Arc<Inner>,
    /// Mirrors after writes, combined; started by the first write.
    mirrors: Arc<LazyCombiner<Mirrors>>,
}

impl fmt::Debug for PairedQueueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairedQueueStore")
            .field("pg", &self.inner.pg)
            .field("redis", &self.inner.redis)
            .field("health", &self.health())
            .finish()
    }
}

impl PairedQueueStore {
    /// A store over `pg` (the truth) and `redis` (the index), configured alike and reading the
    /// same clock. It starts degraded: the index is used once [`reconcile`](Self::reconcile)
    /// has built it.
    #[must_use]
    pub fn new(pg: Arc<PgQueueStore>, redis: Arc<RedisQueueStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                pg,
                redis,
                state: Mutex::new(State::Down("the index is not built yet".to_owned())),
                gate: RwLock::new(()),
                pg_claims: RwLock::new(()),
                rebuilding: tokio::sync::Mutex::new(()),
                stripes: Stripes::new(),
            }),
            mirrors: Arc::new(LazyCombiner::new(
                "the index mirror",
                Grouping {
                    max: MAX_MIRRORS,
                    parallel: 1,
                    retries: 0,
                },
            )),
        }
    }

    /// Mirrors `ids` (and, with `dependents`, their dependents) after a write, combined with
    /// the mirrors of concurrent writes; returns once the index holds their new state.
    async fn mirror(&self, ids: Vec<TaskId>, dependents: bool) {
        if ids.is_empty() || matches!(self.inner.state(), State::Down(_)) {
            return;
        }
        let combiner = self.mirrors.get_or_spawn(|| Mirrors {
            inner: Arc::clone(&self.inner),
        });
        let request = MirrorRequest {
            ids: ids.clone(),
            dependents,
        };
        match combiner {
            Ok(combiner) if combiner.call(request).await.is_ok() => {}
            _ => self.inner.mirror(ids, dependents).await,
        }
    }

    /// Whether the index is in use, or why not.
    #[must_use]
    pub fn health(&self) -> IndexHealth {
        match self.inner.state() {
            State::Indexed => IndexHealth::Indexed,
            State::Rebuilding => IndexHealth::Degraded {
                reason: "the index is being rebuilt".to_owned(),
            },
            State::Down(reason) => IndexHealth::Degraded { reason },
        }
    }

    /// The authoritative store.
    #[must_use]
    pub fn postgres(&self) -> &Arc<PgQueueStore> {
        &self.inner.pg
    }

    /// The index.
    #[must_use]
    pub fn redis(&self) -> &Arc<RedisQueueStore> {
        &self.inner.redis
    }

    /// Claims through the index: Redis picks and leases, Postgres adopts. `None` when the index
    /// cannot be used (the store is then degraded).
    async fn claim_indexed(
        &self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
    ) -> Result<Option<Vec<Lease>>, QueueError> {
        let inner = &self.inner;
        let _gate = inner.gate.read().await;
        if inner.state() != State::Indexed {
            return Ok(None);
        }
        // The sentinel is written by a rebuild, after the counters were raised, and is gone
        // after a flush or an empty restart. Unless the same sentinel stands before and after
        // the pick, the fence counter may have gone back: nothing picked is trusted.
        let Some(before) = inner.index_epoch().await else {
            return Ok(None);
        };
        let (picked, throttled) = match inner.redis.claim_counting(agent, eligibility, max).await {
            Ok(found) => found,
            Err(error) => {
                inner.degrade(format!("redis claim failed: {error}"));
                return Ok(None);
            }
        };
        if inner.index_epoch().await.as_ref() != Some(&before) {
            inner.degrade("the redis index was replaced during a claim");
            return Ok(None);
        }
        let mut claim_keys = eligibility.keys.clone();
        claim_keys.sort();
        claim_keys.dedup();
        let adopt: Vec<AdoptLease> = picked
            .iter()
            .map(|lease| AdoptLease {
                task: lease.token.task,
                agent: agent.clone(),
                fence: lease.token.fence,
                expires_at: lease.expires_at,
                claim_keys: claim_keys.clone(),
            })
            .collect();
        let adopted = match inner.pg.adopt_leases(&adopt, throttled).await {
            Ok(adopted) => adopted,
            Err(error) => {
                // Redis holds leases Postgres never took: the index is off until rebuilt.
                inner.degrade(format!("postgres could not adopt redis leases: {error}"));
                return Err(error);
            }
        };
        let refused: Vec<TaskId> = picked
            .iter()
            .map(|lease| lease.token.task)
            .filter(|id| !adopted.iter().any(|l| l.token.task == *id))
            .collect();
        if !refused.is_empty() {
            tracing::debug!(count = refused.len(), "stale index entries re-mirrored");
            inner.mirror_held(refused, false).await;
        }
        Ok(Some(adopted))
    }
}

#[async_trait]
impl QueueStore for PairedQueueStore {
    async fn enqueue_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>, QueueError> {
        let out = self.inner.pg.enqueue_batch(tasks).await?;
        self.mirror(out.iter().map(|e| e.id).collect(), false).await;
        Ok(out)
    }

    async fn get(&self, id: TaskId) -> Result<TaskRecord, QueueError> {
        self.inner.pg.get(id).await
    }

    async fn list(
        &self,
        query: &TaskQuery,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        self.inner.pg.list(query, after, limit).await
    }

    async fn count(&self, query: &TaskQuery) -> Result<StatusCounts, QueueError> {
        self.inner.pg.count(query).await
    }

    async fn claim(
        &self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
    ) -> Result<Vec<Lease>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        loop {
            if self.inner.state() == State::Indexed
                && let Some(leases) = self.claim_indexed(agent, eligibility, max).await?
            {
                return Ok(leases);
            }
            let _claims = self.inner.pg_claims.read().await;
            // A rebuild may have finished meanwhile: its fences are then above any Postgres
            // issued, and only the index may issue more.
            if self.inner.state() != State::Indexed {
                return self.inner.pg.claim(agent, eligibility, max).await;
            }
        }
    }

    async fn start(&self, token: &LeaseToken) -> Result<(), QueueError> {
        self.inner.pg.start(token).await?;
        self.mirror(vec![token.task], false).await;
        Ok(())
    }

    async fn heartbeat(&self, token: &LeaseToken) -> Result<Heartbeat, QueueError> {
        let beat = self.inner.pg.heartbeat(token).await?;
        self.mirror(vec![token.task], false).await;
        Ok(beat)
    }

    async fn ack(&self, token: &LeaseToken, result: Option<Payload>) -> Result<(), QueueError> {
        self.inner.pg.ack(token, result).await?;
        self.mirror(vec![token.task], true).await;
        Ok(())
    }

    async fn fail(&self, token: &LeaseToken, failure: Failure) -> Result<FailOutcome, QueueError> {
        let outcome = self.inner.pg.fail(token, failure).await?;
        let ended = !matches!(outcome, FailOutcome::Retrying { .. });
        self.mirror(vec![token.task], ended).await;
        Ok(outcome)
    }

    async fn release(&self, token: &LeaseToken) -> Result<TaskStatus, QueueError> {
        let status = self.inner.pg.release(token).await?;
        self.mirror(vec![token.task], status == TaskStatus::Cancelled)
            .await;
        Ok(status)
    }

    async fn cancel(&self, id: TaskId, reason: &str) -> Result<CancelOutcome, QueueError> {
        let outcome = self.inner.pg.cancel(id, reason).await?;
        self.mirror(vec![id], outcome == CancelOutcome::Cancelled)
            .await;
        Ok(outcome)
    }

    async fn reap_expired(&self) -> Result<Vec<Requeued>, QueueError> {
        let out = self.inner.pg.reap_expired().await?;
        self.inner.mirror_requeued(&out).await;
        Ok(out)
    }

    async fn fail_over(&self, agent: &AgentId, reason: &str) -> Result<Vec<Requeued>, QueueError> {
        let out = self.inner.pg.fail_over(agent, reason).await?;
        self.inner.mirror_requeued(&out).await;
        Ok(out)
    }

    async fn promote_due(&self) -> Result<u64, QueueError> {
        // The index treats due tasks as due by itself: nothing to mirror.
        self.inner.pg.promote_due().await
    }

    async fn replay(&self, id: TaskId) -> Result<(), QueueError> {
        self.inner.pg.replay(id).await?;
        self.mirror(vec![id], false).await;
        Ok(())
    }

    async fn replay_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<TaskId>, QueueError> {
        let ids = self.inner.pg.replay_dead_letters(filter).await?;
        self.mirror(ids.clone(), false).await;
        Ok(ids)
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<DeadLetterCursor>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        self.inner.pg.dead_letters(filter, after, limit).await
    }

    async fn purge_dead_letters(&self, retention: Duration) -> Result<u64, QueueError> {
        let purged = self.inner.pg.purge_dead_letters(retention).await?;
        self.inner
            .on_index(
                "purge dead letters",
                self.inner.redis.purge_dead_letters(retention),
            )
            .await;
        Ok(purged)
    }

    async fn purge_finished(&self, retention: Duration) -> Result<u64, QueueError> {
        let purged = self.inner.pg.purge_finished(retention).await?;
        self.inner
            .on_index(
                "purge finished tasks",
                self.inner.redis.purge_finished(retention),
            )
            .await;
        Ok(purged)
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        self.inner.pg.depth().await
    }

    async fn load(&self, agent: &AgentId) -> Result<u32, QueueError> {
        self.inner.pg.load(agent).await
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
    ) -> Result<(), QueueError> {
        self.inner.pg.set_tenant_policy(tenant, policy).await?;
        self.inner
            .on_index(
                "set a tenant policy",
                self.inner.redis.set_tenant_policy(tenant, policy),
            )
            .await;
        Ok(())
    }

    async fn set_limit(&self, key: &LimitKey, limit: Option<Limit>) -> Result<(), QueueError> {
        self.inner.pg.set_limit(key, limit).await?;
        self.inner
            .on_index("set a limit", self.inner.redis.set_limit(key, limit))
            .await;
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.inner.pg.stats().await
    }
}
