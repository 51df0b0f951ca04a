//! `RedisQueueStore`: the queue index in Redis, one Lua script per atomic step.
//!
//! Each tenant's tasks and indexes live under its own hash tag, and every per-tenant script
//! touches only those keys. What spans tenants is decided here, in Rust, from fleet-wide keys
//! under the tag `{#}`: the rotation of each priority level (tenant → stride pass, with a
//! per-level virtual time), which tenants have timers due, depth per tenant, the task → tenant
//! map, the enqueue sequence and the fence counter. After every tenant script the store applies
//! the summary it returned (due tasks per level, next timer, a version) to the fleet keys in
//! one fleet script; a stale summary (older version) only advances the pass.
//!
//! Limit keys (tenant, provider, agent keys...) are counted in their own hashes: a claim
//! acquires every key of the chosen lane and of the claimants, one key script per key for all
//! the leases of a run, and gives back what was not taken; the leases' end uncounts them.
//!
//! Claims and acks are combined (`combined`): one group of callers at a time, each group a
//! handful of round trips however many callers it serves.

mod claim;
mod combined;
mod directory;
mod paired;
mod reads;
mod record;
mod reply;
mod restore;
mod shared;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::Pool;

use self::shared::{Connection, Shared};
use godel_engine::combine::{GroupCommitStats, Grouping, LazyCombiner};
use godel_queue::{
    AgentId, CancelOutcome, Clock, DeadLetterCursor, DeadLetterFilter, Depth, Eligibility,
    Enqueued, FAIR_STRIDE, FailOutcome, Failure, Heartbeat, Jitter, Lease, LeaseToken, Limit,
    LimitKey, MAX_IDEMPOTENCY_KEY_LEN, NewTask, NoJitter, Payload, Priority, QueueConfig,
    QueueError, QueueStats, QueueStore, Requeued, StatusCounts, TaskId, TaskQuery, TaskRecord,
    TaskStatus, TenantId, TenantPolicy,
};
use redis::{AsyncCommands, Script};
use serde_json::{Value, json};

use self::combined::{AckRequest, Acks, ClaimRequest, Claims, MAX_ACKS, MAX_CLAIMS};
use self::record::{duration_micros, from_micros, join, lane_of, micros, split};
use self::reply::{error_of, items, text};
use crate::error::{Context, RedisFailure};
use crate::keys::Keys;
use crate::scripts;

/// A [`QueueStore`] on Redis. Cheap to share behind an `Arc`; every call takes a pooled
/// connection. Concurrent claims and acks are combined (`godel_engine::combine`): each group
/// costs a handful of round trips however many callers it serves.
pub struct RedisQueueStore {
    core: Arc<Core>,
    jitter: Arc<dyn Jitter>,
    claims: LazyCombiner<Claims>,
    acks: LazyCombiner<Acks>,
    /// Something that must live as long as the store (a test fixture owning the keys).
    keep_alive: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// What every operation of the store works with; shared with the combiners' serving tasks.
pub(crate) struct Core {
    connection: Shared,
    keys: Keys,
    config: QueueConfig,
    clock: Arc<dyn Clock>,
    script_config: Value,
}

impl fmt::Debug for RedisQueueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQueueStore")
            .field("keys", &self.core.keys)
            .field("clock", &self.core.clock)
            .finish_non_exhaustive()
    }
}

impl RedisQueueStore {
    /// A store over `pool`, keeping every key under `prefix` (empty: [`crate::DEFAULT_PREFIX`]),
    /// applying `config` and reading time from `clock`.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] naming the first configuration field out of range.
    pub fn new(
        pool: Pool,
        prefix: impl Into<String>,
        config: QueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QueueError> {
        config.validate()?;
        let script_config = json!({
            "ttl": duration_micros(config.lease_ttl),
            "aging": config.aging_after.map(duration_micros),
            "default_pri": config.default_priority.rank(),
            "retry": {
                "initial": duration_micros(config.retry.initial),
                "multiplier": config.retry.multiplier,
                "max": duration_micros(config.retry.max),
            },
        });
        Ok(Self {
            core: Arc::new(Core {
                connection: Shared::new(pool),
                keys: Keys::new(prefix),
                config,
                clock,
                script_config,
            }),
            jitter: Arc::new(NoJitter),
            claims: LazyCombiner::new("redis: the claim combiner", grouping(MAX_CLAIMS)),
            acks: LazyCombiner::new("redis: the ack combiner", grouping(MAX_ACKS)),
            keep_alive: None,
        })
    }

    /// Uses `jitter` for retry backoff (only matters when the retry policy's `jitter` > 0).
    #[must_use]
    pub fn with_jitter(mut self, jitter: Arc<dyn Jitter>) -> Self {
        self.jitter = jitter;
        self
    }

    /// Keeps `guard` alive as long as the store.
    #[cfg_attr(not(feature = "test-util"), allow(dead_code))]
    pub(crate) fn keep_alive(mut self, guard: Box<dyn std::any::Any + Send + Sync>) -> Self {
        self.keep_alive = Some(guard);
        self
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &QueueConfig {
        &self.core.config
    }

    /// How well concurrent claims were grouped since the store started.
    #[must_use]
    pub fn claim_group_stats(&self) -> GroupCommitStats {
        self.claims.stats()
    }

    /// How well concurrent acks were grouped since the store started.
    #[must_use]
    pub fn ack_group_stats(&self) -> GroupCommitStats {
        self.acks.stats()
    }

    /// Claims through the claim combiner; also tells whether a limit held back a task.
    async fn claim_combined(
        &self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
    ) -> Result<(Vec<Lease>, bool), QueueError> {
        let combiner = self.claims.get_or_spawn(|| Claims {
            core: Arc::clone(&self.core),
        })?;
        combiner
            .call(ClaimRequest {
                agent: agent.clone(),
                eligibility: eligibility.clone(),
                max,
            })
            .await
    }

    /// The backoff factor of the next retry: `1 - jitter * u`, as
    /// [`RetryPolicy::delay`](godel_queue::RetryPolicy::delay) applies it.
    fn backoff_factor(&self) -> f64 {
        let jitter = self.core.config.retry.jitter;
        if jitter == 0.0 {
            return 1.0;
        }
        1.0 - jitter * self.jitter.sample().clamp(0.0, 1.0)
    }
}

impl Core {
    async fn conn(&self) -> Result<Connection, RedisFailure> {
        self.connection.get().await
    }

    fn now_us(&self) -> i64 {
        micros(self.clock.now())
    }

    /// Runs a per-tenant script, applies its summary to the fleet keys and uncounts the limit
    /// keys of the leases it ended. `took` is the level a claim took tasks from; the reply's
    /// `recs` are the tasks it took.
    async fn run(
        &self,
        conn: &mut Connection,
        tenant: &TenantId,
        script: &Script,
        args: Value,
        took: Option<usize>,
    ) -> Result<Value, QueueError> {
        let mut config = self.script_config.clone();
        config["tenant"] = Value::from(tenant.as_str());
        let raw: String = script
            .key(self.keys.tenant(tenant))
            .arg(self.now_us())
            .arg(config.to_string())
            .arg(args.to_string())
            .invoke_async(conn)
            .await
            .context("run queue script")?;
        let reply: Value = serde_json::from_str(&raw).context("decode script reply")?;
        let taken = items(&reply["recs"]).len();
        let mut released: BTreeMap<&str, u64> = BTreeMap::new();
        for keys in items(&reply["release"]) {
            for key in split(keys.as_str().unwrap_or("")) {
                *released.entry(key).or_default() += 1;
            }
        }
        // The fleet sync and the releases touch other hash tags: sent together, one round trip.
        let mut sync_conn = conn.clone();
        let sync = async {
            // A script that changed nothing the rotation knows sends no summary.
            if reply["sum"].is_null() && took.is_none() {
                return Ok(());
            }
            let took = took.map(|level| (level, taken));
            self.sync(&mut sync_conn, tenant, &reply["sum"], took).await
        };
        let releases = async {
            for (key, n) in released {
                self.limit(conn, key, "release", n).await?;
            }
            Ok::<_, RedisFailure>(())
        };
        let (synced, released) = tokio::join!(sync, releases);
        synced?;
        released?;
        Ok(reply)
    }

    /// Applies a tenant summary to the fleet-wide rotation; `took` is the level tasks were
    /// taken from and how many.
    async fn sync(
        &self,
        conn: &mut Connection,
        tenant: &TenantId,
        sum: &Value,
        took: Option<(usize, usize)>,
    ) -> Result<(), RedisFailure> {
        let counts = items(&sum["c"]);
        let count = |i: usize| counts.get(i).and_then(Value::as_u64).unwrap_or(0);
        let (level, taken) = took.map_or((-1, 0), |(level, n)| {
            (i64::try_from(level).unwrap_or(-1), n)
        });
        let _: i64 = scripts::FLEET_SYNC
            .key(self.keys.fleet())
            .arg(tenant.as_str())
            .arg(sum["v"].as_u64().unwrap_or(0))
            .arg(count(0))
            .arg(count(1))
            .arg(count(2))
            .arg(count(3))
            .arg(text(sum, "wake"))
            .arg(level)
            .arg(FAIR_STRIDE)
            .arg(taken)
            .invoke_async(conn)
            .await
            .context("sync fleet rotation")?;
        Ok(())
    }

    /// One operation on a limit key for `n` tasks (see `scripts/limit.lua`): for `acquire`,
    /// how many were admitted; for the others, 1 if allowed.
    async fn limit(
        &self,
        conn: &mut Connection,
        key: &str,
        op: &str,
        n: u64,
    ) -> Result<u64, RedisFailure> {
        let answer: u64 = scripts::LIMIT
            .key(self.keys.limit(key))
            .arg(op)
            .arg(self.now_us())
            .arg(n)
            .invoke_async(conn)
            .await
            .context("limit key")?;
        Ok(answer)
    }

    /// Every tenant that ever had a task or a policy.
    async fn tenants(&self, conn: &mut Connection) -> Result<Vec<TenantId>, RedisFailure> {
        let names: Vec<String> = conn
            .smembers(self.keys.fleet_key("tenants"))
            .await
            .context("list tenants")?;
        let mut tenants: Vec<TenantId> = names
            .iter()
            .filter_map(|n| TenantId::parse(n).ok())
            .collect();
        tenants.sort();
        Ok(tenants)
    }

    /// The tenant of task `id`.
    async fn tenant_of(&self, conn: &mut Connection, id: TaskId) -> Result<TenantId, QueueError> {
        let tenant: Option<String> = conn
            .hget(self.keys.fleet_key("where"), id.to_string())
            .await
            .context("find task")?;
        tenant
            .and_then(|t| TenantId::parse(&t).ok())
            .ok_or(QueueError::NotFound(id))
    }

    /// Promotes due timers and applies aging for every tenant with something due; returns how
    /// many scheduled or failed tasks became pending.
    async fn catch_up(&self, conn: &mut Connection) -> Result<u64, QueueError> {
        let due: Vec<String> = self
            .due_tenants()
            .query_async(conn)
            .await
            .context("find due tenants")?;
        self.promote(conn, &due).await
    }

    /// The command listing the tenants with a timer due or a task to age.
    fn due_tenants(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.keys.fleet_key("wake"))
            .arg("-inf")
            .arg(self.now_us());
        cmd
    }

    /// Promotes due timers and applies aging for the tenants named in `due`; returns how many
    /// tasks became pending.
    async fn promote(&self, conn: &mut Connection, due: &[String]) -> Result<u64, QueueError> {
        let mut moved = 0;
        for tenant in due.iter().filter_map(|t| TenantId::parse(t).ok()) {
            let reply = self
                .run(conn, &tenant, &scripts::PROMOTE, json!({}), None)
                .await?;
            moved += reply["moved"].as_u64().unwrap_or(0);
        }
        Ok(moved)
    }

    /// Runs a script about one leased task and checks the token.
    async fn on_lease(
        &self,
        token: &LeaseToken,
        script: &Script,
        mut args: Value,
    ) -> Result<Value, QueueError> {
        let mut conn = self.conn().await?;
        let tenant = self.tenant_of(&mut conn, token.task).await?;
        args["id"] = Value::from(token.task.to_string());
        args["fence"] = Value::from(token.fence.to_string());
        let reply = self.run(&mut conn, &tenant, script, args, None).await?;
        match error_of(&reply, token.task, &tenant) {
            Some(e) => Err(e),
            None => Ok(reply),
        }
    }

    /// Recovers leases tenant by tenant: expired ones, or those `agent` holds.
    async fn recover(&self, args: Value) -> Result<Vec<Requeued>, QueueError> {
        let mut conn = self.conn().await?;
        let mut out = Vec::new();
        for tenant in self.tenants(&mut conn).await? {
            let reply = self
                .run(&mut conn, &tenant, &scripts::REAP, args.clone(), None)
                .await?;
            for item in items(&reply["out"]) {
                let decoded = (
                    TaskId::parse(text(item, "task")),
                    AgentId::parse(text(item, "agent")),
                    text(item, "status").parse::<TaskStatus>(),
                );
                if let (Ok(task), Ok(agent), Ok(status)) = decoded {
                    out.push(Requeued {
                        task,
                        agent,
                        status,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Deletes from `index` (`dead` or `fin`) what is older than `retention`.
    async fn purge(&self, index: &str, retention: Duration) -> Result<u64, QueueError> {
        let mut conn = self.conn().await?;
        let cutoff = self.now_us() - duration_micros(retention);
        let mut purged = 0;
        for tenant in self.tenants(&mut conn).await? {
            loop {
                let args = json!({
                    "index": index,
                    "cutoff": cutoff.to_string(),
                    "limit": PURGE_CHUNK,
                });
                let reply = self
                    .run(&mut conn, &tenant, &scripts::PURGE, args, None)
                    .await?;
                let ids: Vec<&str> = items(&reply["out"])
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                if !ids.is_empty() {
                    let _: i64 = conn
                        .hdel(self.keys.fleet_key("where"), &ids)
                        .await
                        .context("unmap purged tasks")?;
                }
                purged += ids.len() as u64;
                if reply["seen"].as_u64().unwrap_or(0) < PURGE_CHUNK {
                    break;
                }
            }
        }
        Ok(purged)
    }

    /// Writes `tasks` (already mapped in the directory, sequence numbers from `first_seq` on)
    /// with one enqueue script per tenant; a batch over several tenants is checked whole, by a
    /// dry run per tenant, before any of it is written.
    async fn enqueue_mapped(
        &self,
        conn: &mut Connection,
        tasks: &[NewTask],
        first_seq: u64,
    ) -> Result<Vec<Enqueued>, QueueError> {
        let mut groups: Vec<(TenantId, Vec<usize>, Vec<Value>)> = Vec::new();
        for (i, task) in tasks.iter().enumerate() {
            let args = self.task_args(task, first_seq + i as u64);
            match groups.iter_mut().find(|(t, _, _)| *t == task.tenant) {
                Some((_, idx, list)) => {
                    idx.push(i);
                    list.push(args);
                }
                None => groups.push((task.tenant.clone(), vec![i], vec![args])),
            }
        }
        let first = tasks[0].id;
        if groups.len() > 1 {
            for (tenant, _, list) in &groups {
                let args = json!({"dry": true, "tasks": list});
                let reply = self
                    .run(conn, tenant, &scripts::ENQUEUE, args, None)
                    .await?;
                if let Some(e) = error_of(&reply, first, tenant) {
                    return Err(e);
                }
            }
        }
        let mut out: Vec<Option<Enqueued>> = vec![None; tasks.len()];
        for (tenant, idx, list) in &groups {
            let args = json!({"dry": false, "tasks": list});
            let reply = self
                .run(conn, tenant, &scripts::ENQUEUE, args, None)
                .await?;
            if let Some(e) = error_of(&reply, first, tenant) {
                return Err(e);
            }
            for (i, item) in idx.iter().zip(items(&reply["out"])) {
                let rank = item["pri"].as_u64().unwrap_or(2) as usize;
                out[*i] = Some(Enqueued {
                    id: TaskId::parse(text(item, "id")).context("decode enqueue")?,
                    status: text(item, "status").parse().context("decode enqueue")?,
                    priority: Priority::ALL.get(rank).copied().unwrap_or_default(),
                    deduplicated: item["dedup"].as_bool().unwrap_or(false),
                });
            }
        }
        out.into_iter()
            .map(|e| e.ok_or_else(|| invalid("batch", "store returned no result")))
            .collect()
    }

    /// The JSON a task is handed to the enqueue script as.
    fn task_args(&self, task: &NewTask, seq: u64) -> Value {
        let mut deps: Vec<TaskId> = task.depends_on.clone();
        deps.sort_unstable();
        deps.dedup();
        let opt = |v: Option<String>| v.unwrap_or_default();
        json!({
            "id": task.id.to_string(),
            "pri": task.priority.map_or(-1, |p| i64::try_from(p.rank()).unwrap_or(-1)),
            "payload": serde_json::to_string(&task.payload).unwrap_or_else(|_| "null".into()),
            "caps": join(task.capabilities.iter().map(|c| c.as_str())),
            "keys": join(task.limit_keys.iter().map(LimitKey::as_str)),
            "lane": lane_of(&task.capabilities, &task.limit_keys),
            "max": task.max_attempts.unwrap_or(self.config.retry.max_attempts),
            "sched": opt(task.scheduled_at.map(|at| micros(at).to_string())),
            "deps": deps.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "parent": opt(task.parent_id.map(|p| p.to_string())),
            "idem": opt(task.idempotency_key.clone()),
            "group": opt(task.group.map(|g| g.to_string())),
            "seq": seq,
        })
    }
}

/// Groups of at most `max` requests, one in flight: claims of this process never race each
/// other for a lane, and a failed group is not retried (Redis scripts are atomic).
fn grouping(max: usize) -> Grouping {
    Grouping {
        max,
        parallel: 1,
        retries: 0,
    }
}

/// Most index entries one purge script looks at: a script blocks every other client of Redis
/// while it runs, and a long one outlasts the client's response timeout.
const PURGE_CHUNK: u64 = 500;

/// An [`QueueError::Invalid`] for `field`.
fn invalid(field: &'static str, reason: &str) -> QueueError {
    QueueError::Invalid {
        field,
        reason: reason.to_owned(),
    }
}

/// Checks what a batch can be refused for without reading the store.
fn validate(tasks: &[NewTask]) -> Result<(), QueueError> {
    if tasks.is_empty() {
        return Err(invalid("batch", "must hold at least one task"));
    }
    for task in tasks {
        if let Some(key) = task.idempotency_key.as_deref()
            && (key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN)
        {
            return Err(invalid("idempotency_key", "must be 1 to 255 bytes"));
        }
        if task.max_attempts == Some(0) {
            return Err(invalid("max_attempts", "must be at least 1"));
        }
        if task.depends_on.contains(&task.id) {
            return Err(invalid("depends_on", "a task cannot depend on itself"));
        }
    }
    Ok(())
}

#[async_trait]
impl QueueStore for RedisQueueStore {
    async fn enqueue_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>, QueueError> {
        validate(&tasks)?;
        let mut conn = self.core.conn().await?;
        let ids: Vec<(TaskId, &TenantId)> = tasks.iter().map(|t| (t.id, &t.tenant)).collect();
        let n = tasks.len() as u64;
        let (mapped, last) = self.map_tasks(&mut conn, &ids, n).await?;
        match self.core.enqueue_mapped(&mut conn, &tasks, last - n).await {
            Ok(out) => {
                let created: HashSet<String> = out
                    .iter()
                    .filter(|e| !e.deduplicated)
                    .map(|e| e.id.to_string())
                    .collect();
                self.unmap_unless(&mut conn, mapped, |id| created.contains(id))
                    .await?;
                Ok(out)
            }
            // The store may have written the tasks before the reply was lost: keep their ids.
            Err(e @ QueueError::Unavailable { .. }) => Err(e),
            Err(e) => {
                self.unmap(&mut conn, mapped).await?;
                Err(e)
            }
        }
    }

    async fn get(&self, id: TaskId) -> Result<TaskRecord, QueueError> {
        let mut conn = self.core.conn().await?;
        self.core.catch_up(&mut conn).await?;
        let tenant = self.core.tenant_of(&mut conn, id).await?;
        let fields: HashMap<String, String> = conn
            .hgetall(format!("{}t:{id}", self.core.keys.tenant(&tenant)))
            .await
            .context("read task")?;
        if fields.is_empty() {
            return Err(QueueError::NotFound(id));
        }
        Ok(record::from_fields(&fields)?)
    }

    async fn list(
        &self,
        query: &TaskQuery,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        reads::list(self, query, after, limit).await
    }

    async fn count(&self, query: &TaskQuery) -> Result<StatusCounts, QueueError> {
        let all = reads::list(
            self,
            &TaskQuery {
                newest_first: false,
                ..query.clone()
            },
            None,
            usize::MAX,
        )
        .await?;
        Ok(all.into_iter().map(|r| r.status).collect())
    }

    async fn claim(
        &self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
    ) -> Result<Vec<Lease>, QueueError> {
        Ok(self.claim_combined(agent, eligibility, max).await?.0)
    }

    async fn start(&self, token: &LeaseToken) -> Result<(), QueueError> {
        self.core
            .on_lease(token, &scripts::START, json!({}))
            .await
            .map(drop)
    }

    async fn heartbeat(&self, token: &LeaseToken) -> Result<Heartbeat, QueueError> {
        let reply = self
            .core
            .on_lease(token, &scripts::HEARTBEAT, json!({}))
            .await?;
        let expires: i64 = text(&reply, "expires")
            .parse()
            .context("decode heartbeat")?;
        Ok(Heartbeat {
            expires_at: from_micros(expires)?,
            cancel_requested: reply["cancel"].as_bool().unwrap_or(false),
        })
    }

    async fn ack(&self, token: &LeaseToken, result: Option<Payload>) -> Result<(), QueueError> {
        let result = result
            .map(|r| serde_json::to_string(&r).unwrap_or_default())
            .unwrap_or_default();
        let combiner = self.acks.get_or_spawn(|| Acks {
            core: Arc::clone(&self.core),
        })?;
        combiner
            .call(AckRequest {
                token: *token,
                result,
            })
            .await
    }

    async fn fail(&self, token: &LeaseToken, failure: Failure) -> Result<FailOutcome, QueueError> {
        let args = json!({
            "message": failure.message,
            "retryable": failure.retryable,
            "retry_after": failure.retry_after.map_or(0, duration_micros),
            "factor": self.backoff_factor(),
        });
        let reply = self.core.on_lease(token, &scripts::FAIL, args).await?;
        Ok(match text(&reply, "outcome") {
            "cancelled" => FailOutcome::Cancelled,
            "dead" => FailOutcome::DeadLettered,
            _ => FailOutcome::Retrying {
                attempt_count: reply["att"].as_u64().unwrap_or(0) as u32,
                due_at: from_micros(text(&reply, "due").parse().context("decode fail")?)?,
            },
        })
    }

    async fn release(&self, token: &LeaseToken) -> Result<TaskStatus, QueueError> {
        let reply = self
            .core
            .on_lease(token, &scripts::RELEASE, json!({}))
            .await?;
        Ok(text(&reply, "status").parse().context("decode release")?)
    }

    async fn cancel(&self, id: TaskId, reason: &str) -> Result<CancelOutcome, QueueError> {
        let mut conn = self.core.conn().await?;
        let tenant = self.core.tenant_of(&mut conn, id).await?;
        let args = json!({"id": id.to_string(), "reason": reason});
        let reply = self
            .core
            .run(&mut conn, &tenant, &scripts::CANCEL, args, None)
            .await?;
        if let Some(e) = error_of(&reply, id, &tenant) {
            return Err(e);
        }
        Ok(if text(&reply, "outcome") == "requested" {
            CancelOutcome::Requested
        } else {
            CancelOutcome::Cancelled
        })
    }

    async fn reap_expired(&self) -> Result<Vec<Requeued>, QueueError> {
        self.core.recover(json!({})).await
    }

    async fn fail_over(&self, agent: &AgentId, reason: &str) -> Result<Vec<Requeued>, QueueError> {
        self.core
            .recover(json!({"agent": agent.as_str(), "reason": reason}))
            .await
    }

    async fn promote_due(&self) -> Result<u64, QueueError> {
        let mut conn = self.core.conn().await?;
        self.core.catch_up(&mut conn).await
    }

    async fn replay(&self, id: TaskId) -> Result<(), QueueError> {
        let mut conn = self.core.conn().await?;
        let tenant = self.core.tenant_of(&mut conn, id).await?;
        let args = json!({"ids": [id.to_string()]});
        let reply = self
            .core
            .run(&mut conn, &tenant, &scripts::REPLAY, args, None)
            .await?;
        error_of(&reply, id, &tenant).map_or(Ok(()), Err)
    }

    async fn replay_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<TaskId>, QueueError> {
        let dead = reads::dead_letters(self, filter, None, usize::MAX).await?;
        let mut conn = self.core.conn().await?;
        let mut by_tenant: Vec<(TenantId, Vec<String>)> = Vec::new();
        for record in &dead {
            match by_tenant.iter_mut().find(|(t, _)| *t == record.tenant) {
                Some((_, ids)) => ids.push(record.id.to_string()),
                None => by_tenant.push((record.tenant.clone(), vec![record.id.to_string()])),
            }
        }
        for (tenant, ids) in by_tenant {
            let reply = self
                .core
                .run(
                    &mut conn,
                    &tenant,
                    &scripts::REPLAY,
                    json!({ "ids": ids }),
                    None,
                )
                .await?;
            if let Some(id) = dead.first().map(|r| r.id)
                && let Some(e) = error_of(&reply, id, &tenant)
            {
                return Err(e);
            }
        }
        Ok(dead.into_iter().map(|r| r.id).collect())
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<DeadLetterCursor>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError> {
        reads::dead_letters(self, filter, after, limit).await
    }

    async fn purge_dead_letters(&self, retention: Duration) -> Result<u64, QueueError> {
        self.core.purge("dead", retention).await
    }

    async fn purge_finished(&self, retention: Duration) -> Result<u64, QueueError> {
        self.core.purge("fin", retention).await
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        let mut conn = self.core.conn().await?;
        self.core.catch_up(&mut conn).await?;
        let counts: HashMap<String, u64> = conn
            .hgetall(self.core.keys.fleet_key("depth"))
            .await
            .context("read depth")?;
        let mut depth = Depth::default();
        for (field, n) in counts {
            let Some((tenant, level)) = field.rsplit_once('|') else {
                continue;
            };
            let (Ok(tenant), Ok(level)) = (TenantId::parse(tenant), level.parse::<usize>()) else {
                continue;
            };
            if n == 0 || level > 3 {
                continue;
            }
            depth.by_priority[level] += n;
            depth.by_tenant.entry(tenant).or_default()[level] += n;
        }
        Ok(depth)
    }

    async fn load(&self, agent: &AgentId) -> Result<u32, QueueError> {
        let mut conn = self.core.conn().await?;
        let tenants = self.core.tenants(&mut conn).await?;
        if tenants.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for tenant in &tenants {
            pipe.hget(
                format!("{}load", self.core.keys.tenant(tenant)),
                agent.as_str(),
            );
        }
        let loads: Vec<Option<u32>> = pipe.query_async(&mut conn).await.context("read load")?;
        Ok(loads.into_iter().flatten().sum())
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
    ) -> Result<(), QueueError> {
        policy.validate()?;
        let mut conn = self.core.conn().await?;
        let meta = format!("{}meta", self.core.keys.tenant(tenant));
        let mut pipe = redis::pipe();
        pipe.sadd(self.core.keys.fleet_key("tenants"), tenant.as_str())
            .hset(
                self.core.keys.fleet_key("weight"),
                tenant.as_str(),
                policy.weight,
            );
        match policy.max_queued {
            Some(max) => pipe.hset(&meta, "max_queued", max),
            None => pipe.hdel(&meta, "max_queued"),
        };
        let _: () = pipe
            .query_async(&mut conn)
            .await
            .context("set tenant policy")?;
        Ok(())
    }

    async fn set_limit(&self, key: &LimitKey, limit: Option<Limit>) -> Result<(), QueueError> {
        let limit = limit.unwrap_or_default();
        limit.validate()?;
        let mut conn = self.core.conn().await?;
        let rate = limit.rate;
        let _: i64 = scripts::LIMIT
            .key(self.core.keys.queue_limit(key))
            .arg("set")
            .arg(self.core.now_us())
            .arg(limit.max_running.map(|m| m.to_string()).unwrap_or_default())
            .arg(rate.map(|r| r.per_second.to_string()).unwrap_or_default())
            .arg(rate.map(|r| r.burst.to_string()).unwrap_or_default())
            .invoke_async(&mut conn)
            .await
            .context("set limit")?;
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let mut conn = self.core.conn().await?;
        let tenants = self.core.tenants(&mut conn).await?;
        let mut pipe = redis::pipe();
        pipe.hgetall(self.core.keys.fleet_key("stats"));
        for tenant in &tenants {
            pipe.hgetall(format!("{}stats", self.core.keys.tenant(tenant)));
        }
        let all: Vec<HashMap<String, u64>> =
            pipe.query_async(&mut conn).await.context("read stats")?;
        let sum = |name: &str| all.iter().filter_map(|m| m.get(name)).sum::<u64>();
        Ok(QueueStats {
            enqueued: sum("enqueued"),
            claimed: sum("claimed"),
            completed: sum("completed"),
            failed_attempts: sum("failed_attempts"),
            dead_lettered: sum("dead_lettered"),
            throttled: sum("throttled"),
        })
    }
}
