//! Task rows: the columns every read selects, and how a row becomes a [`TaskRecord`].

use std::sync::Arc;

use godel_queue::{
    AgentId, Capabilities, LimitKey, Payload, Priority, TaskId, TaskRecord, TaskStatus, TenantId,
};
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::fault::{DbContext, Fault};

/// The columns of a task row that make its [`TaskRecord`], in the order [`record`] reads them.
pub(crate) const COLUMNS: &str = "id, tenant_id, priority, status, payload, capabilities, \
    limit_keys, attempt_count, max_attempts, seq, created_at, updated_at, due_at, started_at, \
    finished_at, dead_lettered_at, assignee, lease_fence, lease_expires_at, cancel_requested, \
    last_error, result, depends_on, parent_id, idempotency_key, group_id";

/// Statuses of a leased task, for SQL.
pub(crate) const LEASED: &str = "('assigned', 'running')";

/// The status a reader sees (`$1` is now): a scheduled or failed task whose time has come
/// reads `pending`.
pub(crate) const EFFECTIVE_STATUS: &str = "(CASE WHEN status IN ('scheduled', 'failed') \
    AND due_at <= $1 THEN 'pending' ELSE status END)";

/// Whether a task is due (`$1` is now): pending, or scheduled/failed with its time come.
pub(crate) const DUE: &str = "(status = 'pending' OR (status IN ('scheduled', 'failed') \
    AND due_at <= $1))";

/// The priority stored for `priority` (its rank).
pub(crate) fn rank(priority: Priority) -> i16 {
    // At most 3: fits.
    i16::try_from(priority.rank()).unwrap_or(3)
}

/// The priority of a stored rank.
pub(crate) fn priority(rank: i16) -> Result<Priority, Fault> {
    usize::try_from(rank)
        .ok()
        .and_then(|r| Priority::ALL.get(r).copied())
        .ok_or_else(|| Fault::corrupt(format!("priority {rank}")))
}

/// The status of a stored name.
pub(crate) fn status(name: &str) -> Result<TaskStatus, Fault> {
    name.parse()
        .map_err(|_| Fault::corrupt(format!("status {name:?}")))
}

/// A non-negative stored counter as `u64`.
pub(crate) fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A non-negative stored count as `u32`.
pub(crate) fn unsigned32(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// A `u64` (sequence number, fence, pass) as stored.
pub(crate) fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `u32` count as stored.
pub(crate) fn signed32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn tenant(name: &str) -> Result<TenantId, Fault> {
    TenantId::parse(name).map_err(|e| Fault::corrupt(e.to_string()))
}

/// The tenant of a stored name.
pub(crate) fn tenant_id(name: &str) -> Result<TenantId, Fault> {
    tenant(name)
}

/// The agent of a stored name.
pub(crate) fn agent_id(name: &str) -> Result<AgentId, Fault> {
    AgentId::parse(name).map_err(|e| Fault::corrupt(e.to_string()))
}

/// Reads a task row selected with [`COLUMNS`] as its record at `now`: a scheduled or failed
/// task whose due time has passed reads as pending (without a due time), as `get` reports it.
pub(crate) fn record(row: &PgRow, now: OffsetDateTime) -> Result<TaskRecord, Fault> {
    let col = "read a task row";
    let mut status = status(row.try_get::<&str, _>("status").db(col)?)?;
    let mut due_at: Option<OffsetDateTime> = row.try_get("due_at").db(col)?;
    if matches!(status, TaskStatus::Scheduled | TaskStatus::Failed)
        && due_at.is_some_and(|at| at <= now)
    {
        status = TaskStatus::Pending;
        due_at = None;
    }
    let capabilities: Vec<String> = row.try_get("capabilities").db(col)?;
    let capabilities = Capabilities::parse(capabilities.iter().map(String::as_str))
        .map_err(|e| Fault::corrupt(e.to_string()))?;
    let limit_keys: Vec<String> = row.try_get("limit_keys").db(col)?;
    let limit_keys = limit_keys
        .iter()
        .map(|k| LimitKey::parse(k).map_err(|e| Fault::corrupt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let assignee: Option<String> = row.try_get("assignee").db(col)?;
    let depends_on: Vec<Uuid> = row.try_get("depends_on").db(col)?;
    let payload: serde_json::Value = row.try_get("payload").db(col)?;
    let result: Option<serde_json::Value> = row.try_get("result").db(col)?;
    let last_error: Option<String> = row.try_get("last_error").db(col)?;
    let idempotency_key: Option<String> = row.try_get("idempotency_key").db(col)?;
    let parent_id: Option<Uuid> = row.try_get("parent_id").db(col)?;
    let lease_fence: Option<i64> = row.try_get("lease_fence").db(col)?;
    Ok(TaskRecord {
        id: TaskId::from_uuid(row.try_get("id").db(col)?),
        tenant: tenant(row.try_get::<&str, _>("tenant_id").db(col)?)?,
        priority: priority(row.try_get("priority").db(col)?)?,
        status,
        payload: Payload::new(payload),
        capabilities,
        limit_keys: limit_keys.into(),
        attempt_count: unsigned32(row.try_get("attempt_count").db(col)?),
        max_attempts: unsigned32(row.try_get("max_attempts").db(col)?),
        seq: unsigned(row.try_get("seq").db(col)?),
        created_at: row.try_get("created_at").db(col)?,
        updated_at: row.try_get("updated_at").db(col)?,
        due_at,
        started_at: row.try_get("started_at").db(col)?,
        finished_at: row.try_get("finished_at").db(col)?,
        dead_lettered_at: row.try_get("dead_lettered_at").db(col)?,
        assignee: assignee.as_deref().map(agent_id).transpose()?,
        lease_fence: lease_fence.map(unsigned),
        lease_expires_at: row.try_get("lease_expires_at").db(col)?,
        cancel_requested: row.try_get("cancel_requested").db(col)?,
        last_error: last_error.map(Arc::from),
        result: result.map(Payload::new),
        depends_on: depends_on.into_iter().map(TaskId::from_uuid).collect(),
        parent_id: parent_id.map(TaskId::from_uuid),
        idempotency_key: idempotency_key.map(Arc::from),
        group: row.try_get("group_id").db(col)?,
    })
}
