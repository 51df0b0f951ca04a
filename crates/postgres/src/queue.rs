//! [`PgQueueStore`]: the `QueueStore` port on Postgres.
//!
//! Every operation is one transaction (retried whole, a bounded number of times, on a
//! serialization failure or deadlock); time always comes from the injected clock and is bound
//! as a parameter, never read from the database. The schema is
//! `migrations/postgres/0002_queue.sql`: `tasks` (one row per task, row-level security by
//! tenant), `queue_tenant_policies` (weight, bound, first-seen order), `queue_lanes` (stride
//! pass per tenant and level; `queue_levels` derives each level's virtual time), `queue_limits`
//! (limits by key; running counts come from the leased tasks) and `queue_stats` (sharded
//! counters).
//!
//! - Claims (`claim`) lock task rows and stride lanes with `FOR UPDATE SKIP LOCKED`, so
//!   concurrent claimers never share a task and never wait on each other's rows.
//! - Enqueues (`commit`), claims and acks (`combined`) are combined
//!   (`godel_engine::combine`): one background task per operation serves every caller waiting at that moment in one transaction, and
//!   answers after the commit. Within the process, claims therefore never race each other.
//! - Lease reports (`lease`) lock the task row and check the fencing token first.

mod claim;
mod combined;
mod commit;
mod counters;
mod dead_letter;
mod enqueue;
mod fault;
mod lease;
mod limits;
mod listing;
mod rows;
mod transitions;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
pub use godel_engine::combine::GroupCommitStats;
use godel_engine::combine::{Combiner, Grouping};
use godel_queue::{
    AgentId, CancelOutcome, Clock, DeadLetterCursor, DeadLetterFilter, Depth, Eligibility,
    Enqueued, FailOutcome, Failure, Heartbeat, Jitter, Lease, LeaseToken, Limit, LimitKey, NewTask,
    NoJitter, Payload, QueueConfig, QueueError, QueueStats, QueueStore, Requeued, StatusCounts,
    TaskId, TaskQuery, TaskRecord, TaskStatus, TenantId, TenantPolicy,
};
use sqlx::PgPool;

use self::combined::{ACK_GROUPS, Acks, CLAIM_GROUPS, ClaimRequest, Claims, MAX_ACKS, MAX_CLAIMS};
use self::commit::{Committer, Enqueues, MAX_GROUP, Submission};
use self::counters::{Counters, SHARDS};
use self::fault::{DbContext, Fault};
use self::lease::AckRequest;
use self::paired::Adopts;

/// How many times a transaction is run again after a serialization failure or deadlock.
const MAX_RETRIES: u32 = 5;

/// Groups of at most `max` requests, `parallel` in flight, retried after a serialization
/// failure or deadlock.
fn grouping(max: usize, parallel: usize) -> Grouping {
    Grouping {
        max,
        parallel,
        retries: MAX_RETRIES,
    }
}

/// The `queue_stats` shard the enqueue committer starts looking for a free shard at.
const STATS_SHARD_COMMITTER: u32 = 0;
/// The `queue_stats` shard combined claims start looking for a free shard at.
const STATS_SHARD_CLAIMS: u32 = 1;
/// The `queue_stats` shard combined acks start looking for a free shard at.
const STATS_SHARD_ACKS: u32 = 2;

/// Runs `$body` in a transaction on `$store`'s pool, as `$conn: &mut PgConnection`, with
/// `$counters` to count into; commits, and runs it all again on a retryable driver error.
macro_rules! in_tx {
    ($store:expr, |$conn:ident, $counters:ident| $body:expr) => {{
        let store = $store;
        let mut attempt = 0_u32;
        loop {
            let result: Result<_, Fault> = async {
                let mut tx = store.pool.begin().await.db("begin a transaction")?;
                let mut $counters = Counters::default();
                let value = {
                    let $conn: &mut sqlx::PgConnection = &mut tx;
                    #[allow(unused_variables)]
                    let $counters = &mut $counters;
                    $body
                };
                $counters.flush(&mut tx, store.shard()).await?;
                tx.commit().await.db("commit")?;
                Ok(value)
            }
            .await;
            match result {
                Err(fault)
                    if godel_engine::combine::GroupFault::is_retryable(&fault)
                        && attempt < MAX_RETRIES =>
                {
                    attempt += 1
                }
                other => break other.map_err(godel_engine::combine::GroupFault::into_queue),
            }
        }
    }};
}

/// The Postgres queue store. Cheap to share behind an `Arc`; one per process is enough (its
/// enqueue committer batches every caller's enqueues).
pub struct PgQueueStore {
    pool: PgPool,
    config: QueueConfig,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    committer: Committer,
    claims: Combiner<Claims>,
    acks: Combiner<Acks>,
    adopts: Combiner<Adopts>,
    next_shard: AtomicU32,
}

impl PgQueueStore {
    /// A store on `pool` (migrated with `godel_postgres::migrate`) applying `config`, reading time
    /// from `clock`. Starts the enqueue committer on the current tokio runtime.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] naming the first configuration field out of range;
    /// [`QueueError::Unavailable`] when called outside a tokio runtime.
    pub fn new(
        pool: PgPool,
        config: QueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QueueError> {
        config.validate()?;
        let enqueues = Enqueues {
            pool: pool.clone(),
            config: config.clone(),
        };
        let committer = Combiner::spawn(
            "postgres: the enqueue committer",
            grouping(MAX_GROUP, 1),
            enqueues,
        )?;
        let claims = Claims {
            pool: pool.clone(),
            config: config.clone(),
        };
        let claims = Combiner::spawn(
            "postgres: the claim combiner",
            grouping(MAX_CLAIMS, CLAIM_GROUPS),
            claims,
        )?;
        let acks = Combiner::spawn(
            "postgres: the ack combiner",
            grouping(MAX_ACKS, ACK_GROUPS),
            Acks { pool: pool.clone() },
        )?;
        let adopts = Combiner::spawn(
            "postgres: the lease adopter",
            grouping(MAX_CLAIMS, 1),
            Adopts { pool: pool.clone() },
        )?;
        Ok(Self {
            pool,
            config,
            clock,
            jitter: Arc::new(NoJitter),
            committer,
            claims,
            acks,
            adopts,
            next_shard: AtomicU32::new(3),
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
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// How well concurrent enqueues were grouped into transactions since the store started.
    #[must_use]
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        self.committer.stats()
    }

    /// How well concurrent claims were grouped into transactions since the store started.
    #[must_use]
    pub fn claim_group_stats(&self) -> GroupCommitStats {
        self.claims.stats()
    }

    /// How well concurrent acks were grouped into transactions since the store started.
    #[must_use]
    pub fn ack_group_stats(&self) -> GroupCommitStats {
        self.acks.stats()
    }

    /// The pool the store runs on.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The `queue_stats` row this transaction counts in: spread so concurrent transactions
    /// rarely share one.
    fn shard(&self) -> u32 {
        self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS
    }
}

impl fmt::Debug for PgQueueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgQueueStore")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl QueueStore for PgQueueStore {
    async fn enqueue_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>, QueueError> {
        let now = self.clock.now();
        self.committer.call(Submission { tasks, now }).await
    }

    async fn get(&self, id: TaskId) -> Result<TaskRecord, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| listing::get(conn, id, now).await?)
    }

    async fn list(
        &self,
        query: &TaskQuery,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| listing::list(
            conn, query, after, limit, now
        )
        .await?)
    }

    async fn count(&self, query: &TaskQuery) -> Result<StatusCounts, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| listing::count(conn, query, now)
            .await?)
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
        let request = ClaimRequest {
            agent: agent.clone(),
            eligibility: eligibility.clone(),
            max,
            now: self.clock.now(),
        };
        self.claims.call(request).await
    }

    async fn start(&self, token: &LeaseToken) -> Result<(), QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| lease::start(conn, token, now)
            .await?)
    }

    async fn heartbeat(&self, token: &LeaseToken) -> Result<Heartbeat, QueueError> {
        let now = self.clock.now();
        let ttl = self.config.lease_ttl;
        in_tx!(self, |conn, counters| lease::heartbeat(
            conn, token, ttl, now
        )
        .await?)
    }

    async fn ack(&self, token: &LeaseToken, result: Option<Payload>) -> Result<(), QueueError> {
        let request = AckRequest {
            token: *token,
            result,
            now: self.clock.now(),
        };
        self.acks.call(request).await
    }

    async fn fail(&self, token: &LeaseToken, failure: Failure) -> Result<FailOutcome, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| lease::fail(
            conn,
            token,
            failure.clone(),
            &self.config,
            &*self.jitter,
            now,
            counters
        )
        .await?)
    }

    async fn release(&self, token: &LeaseToken) -> Result<TaskStatus, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| lease::release(conn, token, now)
            .await?)
    }

    async fn cancel(&self, id: TaskId, reason: &str) -> Result<CancelOutcome, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| dead_letter::cancel(
            conn, id, reason, now
        )
        .await?)
    }

    async fn reap_expired(&self) -> Result<Vec<Requeued>, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| lease::reap_expired(
            conn, now, counters
        )
        .await?)
    }

    async fn fail_over(&self, agent: &AgentId, reason: &str) -> Result<Vec<Requeued>, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| lease::fail_over(
            conn, agent, reason, now, counters
        )
        .await?)
    }

    async fn promote_due(&self) -> Result<u64, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| {
            sqlx::query(
                "UPDATE tasks SET status = 'pending', pending_since = due_at, due_at = NULL, \
                 updated_at = $1 WHERE status IN ('scheduled', 'failed') AND due_at <= $1",
            )
            .bind(now)
            .execute(&mut *conn)
            .await
            .db("promote due tasks")?
            .rows_affected()
        })
    }

    async fn replay(&self, id: TaskId) -> Result<(), QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| dead_letter::replay(conn, id, now)
            .await?)
    }

    async fn replay_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<TaskId>, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| dead_letter::replay_dead_letters(
            conn, filter, now
        )
        .await?)
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<DeadLetterCursor>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| dead_letter::dead_letters(
            conn, filter, after, limit, now
        )
        .await?)
    }

    async fn purge_dead_letters(&self, retention: Duration) -> Result<u64, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| dead_letter::purge_dead_letters(
            conn, retention, now
        )
        .await?)
    }

    async fn purge_finished(&self, retention: Duration) -> Result<u64, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| dead_letter::purge_finished(
            conn, retention, now
        )
        .await?)
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| listing::depth(
            conn,
            &self.config,
            now
        )
        .await?)
    }

    async fn load(&self, agent: &AgentId) -> Result<u32, QueueError> {
        in_tx!(self, |conn, counters| listing::load(conn, agent).await?)
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
    ) -> Result<(), QueueError> {
        policy.validate()?;
        let weight = i32::try_from(policy.weight).unwrap_or(i32::MAX);
        let max_queued = policy
            .max_queued
            .map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        in_tx!(self, |conn, counters| {
            enqueue::intern_tenant(&mut *conn, tenant).await?;
            sqlx::query(
                "INSERT INTO queue_tenant_policies (tenant_id, weight, max_queued) \
                 VALUES ($1, $2, $3) ON CONFLICT (tenant_id) \
                 DO UPDATE SET weight = $2, max_queued = $3",
            )
            .bind(tenant.as_str())
            .bind(weight)
            .bind(max_queued)
            .execute(&mut *conn)
            .await
            .db("set a tenant policy")?;
        })
    }

    async fn set_limit(&self, key: &LimitKey, limit: Option<Limit>) -> Result<(), QueueError> {
        let now = self.clock.now();
        in_tx!(self, |conn, counters| limits::set(conn, key, limit, now)
            .await?)
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        in_tx!(self, |conn, counters| counters::read(conn).await?)
    }
}

// After `in_tx!`, which it uses.
mod paired;

pub use self::paired::{AdoptLease, MirrorRecord};
