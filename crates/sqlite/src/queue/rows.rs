//! The queue's tables: writing one journal batch in a transaction, reading the snapshot back.

use godel_queue::{
    Counters, JournalBatch, Limit, LimitKey, QueueError, Snapshot, StoredTask, TenantId,
    TenantPolicy,
};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use time::format_description::well_known::Rfc3339;

/// Rows per multi-row statement: 8 bound values each stays far below SQLite's variable limit.
const ROWS_PER_STATEMENT: usize = 500;

fn unavailable(
    what: &str,
    error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> QueueError {
    QueueError::unavailable(format!("sqlite: {what}"), error)
}

/// Writes `batch` in one transaction: upserts its tasks, deletes its removals, stores its
/// policies, limits and counters. Durable when it returns (the pool runs `synchronous = FULL`).
pub(super) async fn write(pool: &SqlitePool, batch: &JournalBatch) -> Result<(), QueueError> {
    let mut tx = pool.begin().await.map_err(|e| unavailable("begin", e))?;
    for chunk in batch.tasks.chunks(ROWS_PER_STATEMENT) {
        let mut rows = Vec::with_capacity(chunk.len());
        for task in chunk {
            rows.push(TaskRow::of(task)?);
        }
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO queue_tasks (id, tenant_id, status, priority, seq, created_at, updated_at, record) ",
        );
        insert.push_values(rows, |mut b, row| {
            b.push_bind(row.id)
                .push_bind(row.tenant)
                .push_bind(row.status)
                .push_bind(row.priority)
                .push_bind(row.seq)
                .push_bind(row.created_at)
                .push_bind(row.updated_at)
                .push_bind(row.record);
        });
        insert.push(
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, priority = excluded.priority, \
             updated_at = excluded.updated_at, record = excluded.record",
        );
        insert
            .build()
            .execute(&mut *tx)
            .await
            .map_err(|e| unavailable("write tasks", e))?;
    }
    for chunk in batch.removed.chunks(ROWS_PER_STATEMENT) {
        let mut delete = QueryBuilder::<Sqlite>::new("DELETE FROM queue_tasks WHERE id IN (");
        let mut ids = delete.separated(", ");
        for id in chunk {
            ids.push_bind(id.to_string());
        }
        ids.push_unseparated(")");
        delete
            .build()
            .execute(&mut *tx)
            .await
            .map_err(|e| unavailable("delete purged tasks", e))?;
    }
    for (tenant, policy) in &batch.policies {
        sqlx::query(
            "INSERT INTO queue_tenant_policies (tenant_id, policy) VALUES (?, ?) \
             ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy",
        )
        .bind(tenant.as_str())
        .bind(json(policy)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| unavailable("write a tenant policy", e))?;
    }
    for (key, limit) in &batch.limits {
        sqlx::query(
            "INSERT INTO queue_limits (limit_key, setting) VALUES (?, ?) \
             ON CONFLICT (limit_key) DO UPDATE SET setting = excluded.setting",
        )
        .bind(key.as_str())
        .bind(json(limit)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| unavailable("write a limit", e))?;
    }
    sqlx::query(
        "INSERT INTO queue_counters (id, next_seq, last_fence) VALUES (1, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET next_seq = max(next_seq, excluded.next_seq), \
         last_fence = max(last_fence, excluded.last_fence)",
    )
    .bind(to_i64(batch.counters.next_seq)?)
    .bind(to_i64(batch.counters.last_fence)?)
    .execute(&mut *tx)
    .await
    .map_err(|e| unavailable("write the counters", e))?;
    tx.commit().await.map_err(|e| unavailable("commit", e))
}

/// Everything the tables hold.
pub(super) async fn read(pool: &SqlitePool) -> Result<Snapshot, QueueError> {
    let records: Vec<String> = sqlx::query_scalar("SELECT record FROM queue_tasks ORDER BY seq")
        .fetch_all(pool)
        .await
        .map_err(|e| unavailable("read tasks", e))?;
    let tasks = records
        .iter()
        .map(|r| {
            serde_json::from_str::<StoredTask>(r).map_err(|e| corrupt("queue_tasks.record", e))
        })
        .collect::<Result<_, _>>()?;
    let policies: Vec<(String, String)> =
        sqlx::query_as("SELECT tenant_id, policy FROM queue_tenant_policies")
            .fetch_all(pool)
            .await
            .map_err(|e| unavailable("read tenant policies", e))?;
    let policies = policies
        .into_iter()
        .map(|(tenant, policy)| {
            let tenant = TenantId::parse(&tenant)
                .map_err(|e| corrupt("queue_tenant_policies.tenant_id", e))?;
            let policy: TenantPolicy = serde_json::from_str(&policy)
                .map_err(|e| corrupt("queue_tenant_policies.policy", e))?;
            Ok((tenant, policy))
        })
        .collect::<Result<_, QueueError>>()?;
    let limits: Vec<(String, String)> =
        sqlx::query_as("SELECT limit_key, setting FROM queue_limits")
            .fetch_all(pool)
            .await
            .map_err(|e| unavailable("read limits", e))?;
    let limits = limits
        .into_iter()
        .map(|(key, setting)| {
            let key = LimitKey::parse(&key).map_err(|e| corrupt("queue_limits.limit_key", e))?;
            let limit: Limit =
                serde_json::from_str(&setting).map_err(|e| corrupt("queue_limits.setting", e))?;
            Ok((key, limit))
        })
        .collect::<Result<_, QueueError>>()?;
    let counters: Option<(i64, i64)> =
        sqlx::query_as("SELECT next_seq, last_fence FROM queue_counters WHERE id = 1")
            .fetch_optional(pool)
            .await
            .map_err(|e| unavailable("read the counters", e))?;
    let counters = counters.map_or(Ok(Counters::default()), |(seq, fence)| {
        Ok::<_, QueueError>(Counters {
            next_seq: u64::try_from(seq).map_err(|e| corrupt("queue_counters.next_seq", e))?,
            last_fence: u64::try_from(fence)
                .map_err(|e| corrupt("queue_counters.last_fence", e))?,
        })
    })?;
    Ok(Snapshot {
        tasks,
        policies,
        limits,
        counters,
    })
}

/// The columns of one `queue_tasks` row.
struct TaskRow {
    id: String,
    tenant: String,
    status: &'static str,
    priority: &'static str,
    seq: i64,
    created_at: String,
    updated_at: String,
    record: String,
}

impl TaskRow {
    fn of(task: &StoredTask) -> Result<Self, QueueError> {
        let r = &task.record;
        Ok(Self {
            id: r.id.to_string(),
            tenant: r.tenant.as_str().to_owned(),
            status: r.status.as_str(),
            priority: r.priority.as_str(),
            seq: to_i64(r.seq)?,
            created_at: r
                .created_at
                .format(&Rfc3339)
                .map_err(|e| unavailable("format a time", e))?,
            updated_at: r
                .updated_at
                .format(&Rfc3339)
                .map_err(|e| unavailable("format a time", e))?,
            record: json(task)?,
        })
    }
}

fn json(value: &impl serde::Serialize) -> Result<String, QueueError> {
    serde_json::to_string(value).map_err(|e| unavailable("encode a row", e))
}

fn to_i64(value: u64) -> Result<i64, QueueError> {
    i64::try_from(value).map_err(|e| unavailable("counter out of range", e))
}

fn corrupt(column: &str, error: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable {
        message: format!("sqlite: {column} holds an unreadable value: {error}"),
        source: None,
    }
}
