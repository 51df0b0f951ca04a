//! What a Redis index paired with this store needs (the `godel` facade's paired store): records
//! with their claimant keys to mirror, blocked dependents to re-mirror, every record to rebuild
//! from, the counters and settings to carry over, and the adoption of leases Redis picked.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use godel_engine::combine::Serve;
use godel_queue::{
    AgentId, Lease, LeaseToken, Limit, LimitKey, QueueError, Rate, TaskId, TaskRecord, TenantId,
    TenantPolicy,
};
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::counters::Counters;
use super::fault::{DbContext, Fault};
use super::rows::{self, COLUMNS};
use super::{MAX_RETRIES, PgQueueStore, STATS_SHARD_CLAIMS};

/// A task as an index mirrors it: its record and, while it is leased, the claimant's limit keys
/// its lease also counts under (they are not part of a [`TaskRecord`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorRecord {
    /// The task as `get` reports it.
    pub record: TaskRecord,
    /// The claimant's keys of its current lease (empty when it is not leased).
    pub claim_keys: Vec<LimitKey>,
}

/// A lease an index handed out, for Postgres to adopt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptLease {
    /// The leased task.
    pub task: TaskId,
    /// Its holder.
    pub agent: AgentId,
    /// The fence the index issued.
    pub fence: u64,
    /// When the lease ends unless extended.
    pub expires_at: OffsetDateTime,
    /// The claimant's limit keys, counted while the lease lasts.
    pub claim_keys: Vec<LimitKey>,
}

/// A page of [`PgQueueStore::all_records`].
const PAGE: i64 = 1000;

/// Statuses a dependency change can move a dependent into (the ones worth re-mirroring).
const MOVED: &str = "('pending', 'blocked', 'scheduled', 'cancelled')";

impl PgQueueStore {
    /// The current records of `ids` (missing or purged ones are left out), with the claimant
    /// keys of those leased.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn mirror_records(&self, ids: &[TaskId]) -> Result<Vec<MirrorRecord>, QueueError> {
        let now = self.clock.now();
        let uuids: Vec<Uuid> = ids.iter().map(|id| *id.as_uuid()).collect();
        in_tx!(self, |conn, counters| {
            let sql = format!(
                "SELECT {COLUMNS}, claim_keys FROM tasks WHERE id = ANY($2) \
                 AND $1::TIMESTAMPTZ IS NOT NULL ORDER BY seq"
            );
            let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(&uuids)
                .fetch_all(&mut *conn)
                .await
                .db("read tasks to mirror")?;
            mirror_rows(&found, now)?
        })
    }

    /// Every task that depends, directly or through other dependents, on one of `ids` and
    /// that a change of a dependency can have moved (pending, blocked, scheduled, cancelled).
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn dependents(&self, ids: &[TaskId]) -> Result<Vec<TaskId>, QueueError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let uuids: Vec<Uuid> = ids.iter().map(|id| *id.as_uuid()).collect();
        in_tx!(self, |conn, counters| {
            let sql = format!(
                "WITH RECURSIVE d(id) AS ( \
                   SELECT id FROM tasks WHERE depends_on && $1 AND status IN {MOVED} \
                   UNION \
                   SELECT t.id FROM tasks t JOIN d ON t.depends_on @> ARRAY[d.id] \
                   WHERE t.status IN {MOVED}) \
                 SELECT id FROM d"
            );
            let found: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(&uuids)
                .fetch_all(&mut *conn)
                .await
                .db("find dependents")?;
            found.into_iter().map(TaskId::from_uuid).collect::<Vec<_>>()
        })
    }

    /// A page of every task the store holds, in enqueue order, after `after` (a `seq`,
    /// exclusive); at most 1000 at a time. Pass the last `seq` of a page to read the next;
    /// a short page is the last.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn all_records(&self, after: Option<u64>) -> Result<Vec<MirrorRecord>, QueueError> {
        let now = self.clock.now();
        let after = after.map_or(-1, rows::signed);
        in_tx!(self, |conn, counters| {
            let sql = format!(
                "SELECT {COLUMNS}, claim_keys FROM tasks WHERE seq > $2 \
                 AND $1::TIMESTAMPTZ IS NOT NULL ORDER BY seq LIMIT $3"
            );
            let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(after)
                .bind(PAGE)
                .fetch_all(&mut *conn)
                .await
                .db("read every task")?;
            mirror_rows(&found, now)?
        })
    }

    /// The next enqueue `seq` and the last fence issued (0 when none), as Postgres's sequences
    /// stand now.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn counters(&self) -> Result<(u64, u64), QueueError> {
        in_tx!(self, |conn, counters| {
            let row = sqlx::query(
                "SELECT (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END \
                   FROM queue_seq) AS next_seq, \
                 (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM queue_fence) \
                   AS last_fence",
            )
            .fetch_one(&mut *conn)
            .await
            .db("read the queue counters")?;
            let what = "read the queue counters";
            (
                rows::unsigned(row.try_get("next_seq").db(what)?),
                rows::unsigned(row.try_get("last_fence").db(what)?),
            )
        })
    }

    /// Every tenant policy set (tenants seen but never given one read as the default).
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn tenant_policies(&self) -> Result<Vec<(TenantId, TenantPolicy)>, QueueError> {
        in_tx!(self, |conn, counters| {
            let found = sqlx::query(
                "SELECT tenant_id, weight, max_queued FROM queue_tenant_policies ORDER BY ordinal",
            )
            .fetch_all(&mut *conn)
            .await
            .db("read tenant policies")?;
            let what = "read a tenant policy";
            let mut out = Vec::with_capacity(found.len());
            for row in found {
                let weight: i32 = row.try_get("weight").db(what)?;
                let max_queued: Option<i64> = row.try_get("max_queued").db(what)?;
                out.push((
                    rows::tenant_id(row.try_get::<&str, _>("tenant_id").db(what)?)?,
                    TenantPolicy {
                        weight: rows::unsigned32(weight),
                        max_queued: max_queued.map(rows::unsigned),
                    },
                ));
            }
            out
        })
    }

    /// Every limit set, by key.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn limits(&self) -> Result<Vec<(LimitKey, Limit)>, QueueError> {
        in_tx!(self, |conn, counters| {
            let found = sqlx::query(
                "SELECT key, max_running, rate_per_second, burst FROM queue_limits ORDER BY key",
            )
            .fetch_all(&mut *conn)
            .await
            .db("read limits")?;
            let what = "read a limit";
            let mut out = Vec::with_capacity(found.len());
            for row in found {
                let key: String = row.try_get("key").db(what)?;
                let key = LimitKey::parse(&key).map_err(|e| Fault::corrupt(e.to_string()))?;
                let max_running: Option<i32> = row.try_get("max_running").db(what)?;
                let per_second: Option<f64> = row.try_get("rate_per_second").db(what)?;
                let burst: Option<i32> = row.try_get("burst").db(what)?;
                out.push((
                    key,
                    Limit {
                        max_running: max_running.map(rows::unsigned32),
                        rate: per_second.zip(burst).map(|(per_second, burst)| Rate {
                            per_second,
                            burst: rows::unsigned32(burst),
                        }),
                    },
                ));
            }
            out
        })
    }

    /// Adopts leases an index picked and issued, in one transaction: each task still due here
    /// (pending, or scheduled or failed with its time come) becomes `assigned` to the holder
    /// under the index's fence and expiry, counted under the claimant's keys; the others are
    /// left alone (the index was stale). The fence sequence is raised to at least every adopted
    /// fence, so fences this store issues later stay above them. `throttled` counts a
    /// throttled claim in the stats.
    ///
    /// Returns the adopted leases, in the order given, with the records as stored here.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn adopt_leases(
        &self,
        leases: &[AdoptLease],
        throttled: bool,
    ) -> Result<Vec<Lease>, QueueError> {
        self.adopts
            .call(AdoptRequest {
                leases: leases.to_vec(),
                throttled,
                now: self.clock.now(),
            })
            .await
    }
}

/// One caller's leases to adopt, with the clock reading taken when it asked.
pub(crate) struct AdoptRequest {
    leases: Vec<AdoptLease>,
    throttled: bool,
    now: OffsetDateTime,
}

/// Adoptions, served a group per transaction.
pub(crate) struct Adopts {
    pub(crate) pool: sqlx::PgPool,
}

#[async_trait]
impl Serve for Adopts {
    type Request = AdoptRequest;
    type Response = Vec<Lease>;
    type Fault = Fault;

    /// Every lease of the group adopted by one statement (one per lease if a task appears
    /// twice), the fence sequence raised once, one commit.
    async fn serve(
        &self,
        requests: &[AdoptRequest],
    ) -> Result<Vec<Result<Vec<Lease>, QueueError>>, Fault> {
        let Some(now) = requests.iter().map(|r| r.now).max() else {
            return Ok(Vec::new());
        };
        let all: Vec<&AdoptLease> = requests.iter().flat_map(|r| &r.leases).collect();
        let mut tx = self.pool.begin().await.db("begin an adoption group")?;
        let mut counters = Counters::default();
        let mut adopted = adopt_all(&mut tx, &all, now).await?.into_iter();
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            let mine: Vec<Lease> = adopted
                .by_ref()
                .take(request.leases.len())
                .flatten()
                .collect();
            counters.claimed += i64::try_from(mine.len()).unwrap_or(i64::MAX);
            if request.throttled {
                counters.throttled += 1;
            }
            answers.push(Ok(mine));
        }
        if let Some(top) = all.iter().map(|l| l.fence).max() {
            sqlx::query(
                "SELECT setval('queue_fence', GREATEST($1, \
                   (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM queue_fence)))",
            )
            .bind(rows::signed(top))
            .execute(&mut *tx)
            .await
            .db("raise the fence sequence")?;
        }
        counters.flush(&mut tx, STATS_SHARD_CLAIMS).await?;
        tx.commit().await.db("commit an adoption group")?;
        Ok(answers)
    }
}

/// Adopts `leases` of tasks still due: for each, the lease with the record as stored here, or
/// `None` when the task was no longer due.
async fn adopt_all(
    conn: &mut sqlx::PgConnection,
    leases: &[&AdoptLease],
    now: OffsetDateTime,
) -> Result<Vec<Option<Lease>>, Fault> {
    let set = "status = 'assigned', assignee = a.agent, lease_fence = a.fence, \
         lease_expires_at = a.expires, cancel_requested = FALSE, \
         claim_keys = CASE WHEN a.keys = '' THEN '{}'::TEXT[] ELSE string_to_array(a.keys, ',') END, \
         due_at = NULL, pending_since = NULL, updated_at = $1";
    let unique: HashSet<TaskId> = leases.iter().map(|l| l.task).collect();
    let mut found: HashMap<TaskId, TaskRecord> = HashMap::new();
    let chunks: Vec<&[&AdoptLease]> = if unique.len() == leases.len() {
        vec![leases]
    } else {
        // A task twice: adopt one lease at a time, in order (the later one finds it leased).
        leases.chunks(1).collect()
    };
    let mut out = Vec::with_capacity(leases.len());
    for chunk in chunks {
        let sql = format!(
            "UPDATE tasks SET {set} \
             FROM unnest($2::UUID[], $3::TEXT[], $4::INT8[], $5::TIMESTAMPTZ[], $6::TEXT[]) \
               AS a(task, agent, fence, expires, keys) \
             WHERE id = a.task AND {due} RETURNING {COLUMNS}",
            due = rows::DUE
        );
        let ids: Vec<Uuid> = chunk.iter().map(|l| *l.task.as_uuid()).collect();
        let agents: Vec<&str> = chunk.iter().map(|l| l.agent.as_str()).collect();
        let fences: Vec<i64> = chunk.iter().map(|l| rows::signed(l.fence)).collect();
        let expires: Vec<OffsetDateTime> = chunk.iter().map(|l| l.expires_at).collect();
        let keys: Vec<String> = chunk
            .iter()
            .map(|l| {
                let keys: Vec<&str> = l.claim_keys.iter().map(LimitKey::as_str).collect();
                keys.join(",")
            })
            .collect();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(&ids)
            .bind(&agents)
            .bind(&fences)
            .bind(&expires)
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await
            .db("adopt leases")?;
        for row in &rows {
            let record = rows::record(row, now)?;
            found.insert(record.id, record);
        }
        for lease in chunk {
            out.push(found.remove(&lease.task).map(|record| Lease {
                token: LeaseToken {
                    task: record.id,
                    fence: lease.fence,
                },
                expires_at: lease.expires_at,
                attempt: record.attempt_count.saturating_add(1),
                task: record,
            }));
        }
    }
    Ok(out)
}

/// Reads rows selected with [`COLUMNS`] and `claim_keys`.
fn mirror_rows(
    found: &[sqlx::postgres::PgRow],
    now: OffsetDateTime,
) -> Result<Vec<MirrorRecord>, Fault> {
    let what = "read a task to mirror";
    found
        .iter()
        .map(|row| {
            let record = rows::record(row, now)?;
            let claim_keys: Vec<String> = row.try_get("claim_keys").db(what)?;
            let claim_keys = if record.status.is_leased() {
                claim_keys
                    .iter()
                    .map(|k| LimitKey::parse(k).map_err(|e| Fault::corrupt(e.to_string())))
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                Vec::new()
            };
            Ok(MirrorRecord { record, claim_keys })
        })
        .collect()
}
