//! What a Redis index paired with this store needs (the `godel` facade's paired store): records
//! with their claimant keys to mirror, blocked dependents to re-mirror, every record to rebuild
//! from, the counters and settings to carry over, and the adoption of leases Redis picked.

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
use super::{MAX_RETRIES, PgQueueStore};

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
        let now = self.clock.now();
        in_tx!(self, |conn, counters| {
            let mut adopted = Vec::with_capacity(leases.len());
            for lease in leases {
                let keys: Vec<&str> = lease.claim_keys.iter().map(LimitKey::as_str).collect();
                let sql = format!(
                    "UPDATE tasks SET status = 'assigned', assignee = $3, lease_fence = $4, \
                       lease_expires_at = $5, cancel_requested = FALSE, claim_keys = $6, \
                       due_at = NULL, pending_since = NULL, updated_at = $1 \
                     WHERE id = $2 AND {due} RETURNING {COLUMNS}",
                    due = rows::DUE
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(lease.task.as_uuid())
                    .bind(lease.agent.as_str())
                    .bind(rows::signed(lease.fence))
                    .bind(lease.expires_at)
                    .bind(&keys)
                    .fetch_optional(&mut *conn)
                    .await
                    .db("adopt a lease")?;
                let Some(row) = row else {
                    continue;
                };
                let record = rows::record(&row, now)?;
                counters.claimed += 1;
                adopted.push(Lease {
                    token: LeaseToken {
                        task: record.id,
                        fence: lease.fence,
                    },
                    expires_at: lease.expires_at,
                    attempt: record.attempt_count.saturating_add(1),
                    task: record,
                });
            }
            if let Some(top) = adopted.iter().map(|l| l.token.fence).max() {
                sqlx::query(
                    "SELECT setval('queue_fence', GREATEST($1, \
                       (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM queue_fence)))",
                )
                .bind(rows::signed(top))
                .execute(&mut *conn)
                .await
                .db("raise the fence sequence")?;
            }
            if throttled {
                counters.throttled += 1;
            }
            adopted
        })
    }
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
