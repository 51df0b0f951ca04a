//! Reads: one task, pages and counts by filter (statuses as `get` reports them), depth of due
//! work, and an agent's load.

use godel_queue::{
    AgentId, Depth, QueueConfig, QueueError, StatusCounts, TaskId, TaskQuery, TaskRecord,
};
use sqlx::postgres::PgArguments;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

use super::fault::{DbContext, Fault};
use super::rows::{self, COLUMNS, DUE, EFFECTIVE_STATUS, LEASED};

/// The task with this id.
pub(crate) async fn get(
    conn: &mut PgConnection,
    id: TaskId,
    now: OffsetDateTime,
) -> Result<TaskRecord, Fault> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE id = $2 AND $1::TIMESTAMPTZ IS NOT NULL");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await
        .db("read a task")?
        .ok_or(QueueError::NotFound(id))?;
    rows::record(&row, now)
}

/// The `WHERE` clause of `query` (`$1` is now; its values bind as `$2..$6`).
fn filter(query: &TaskQuery) -> String {
    let mut clause = String::from("$1::TIMESTAMPTZ IS NOT NULL");
    let mut push = |cond: String| {
        clause.push_str(" AND ");
        clause.push_str(&cond);
    };
    if query.tenant.is_some() {
        push("tenant_id = $2".to_owned());
    }
    if !query.statuses.is_empty() {
        push(format!("{EFFECTIVE_STATUS} = ANY($3)"));
    }
    if query.priority.is_some() {
        push("priority = $4".to_owned());
    }
    if query.assignee.is_some() {
        push(format!("assignee = $5 AND status IN {LEASED}"));
    }
    if query.group.is_some() {
        push("group_id = $6".to_owned());
    }
    clause
}

/// Binds the values of `query` as `$1..$6` (unused ones too, so numbering stays fixed).
fn bind_filter<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, PgArguments>,
    query: &'q TaskQuery,
    now: OffsetDateTime,
) -> sqlx::query::Query<'q, sqlx::Postgres, PgArguments> {
    let statuses: Vec<&'static str> = query.statuses.iter().map(|s| s.as_str()).collect();
    q.bind(now)
        .bind(query.tenant.as_ref().map(|t| t.as_str()))
        .bind(statuses)
        .bind(query.priority.map(rows::rank))
        .bind(query.assignee.as_ref().map(AgentId::as_str))
        .bind(query.group)
}

/// A page of matching tasks in `seq` order from `after` (exclusive).
pub(crate) async fn list(
    conn: &mut PgConnection,
    query: &TaskQuery,
    after: Option<u64>,
    limit: usize,
    now: OffsetDateTime,
) -> Result<Vec<TaskRecord>, Fault> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (cmp, order) = if query.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let cursor = if after.is_some() {
        format!(" AND seq {cmp} $7")
    } else {
        String::from(" AND $7::BIGINT IS NULL")
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks WHERE {}{cursor} ORDER BY seq {order} LIMIT $8",
        filter(query)
    );
    let found = bind_filter(sqlx::query(sqlx::AssertSqlSafe(sql)), query, now)
        .bind(after.map(rows::signed))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(conn)
        .await
        .db("list tasks")?;
    found.iter().map(|row| rows::record(row, now)).collect()
}

/// Matching tasks by status.
pub(crate) async fn count(
    conn: &mut PgConnection,
    query: &TaskQuery,
    now: OffsetDateTime,
) -> Result<StatusCounts, Fault> {
    let sql = format!(
        "SELECT {EFFECTIVE_STATUS} AS status, count(*) AS n FROM tasks WHERE {} GROUP BY 1",
        filter(query)
    );
    let found = bind_filter(sqlx::query(sqlx::AssertSqlSafe(sql)), query, now)
        .fetch_all(conn)
        .await
        .db("count tasks")?;
    let mut counts = StatusCounts::default();
    for row in found {
        let status = rows::status(row.try_get::<&str, _>("status").db("count tasks")?)?;
        counts.add(status, rows::unsigned(row.try_get("n").db("count tasks")?));
    }
    Ok(counts)
}

/// Due tasks by level (after aging) and tenant.
pub(crate) async fn depth(
    conn: &mut PgConnection,
    config: &QueueConfig,
    now: OffsetDateTime,
) -> Result<Depth, Fault> {
    let sql = format!(
        "SELECT tenant_id, CASE WHEN $2::FLOAT8 IS NULL THEN priority::INT ELSE GREATEST(0, \
           priority - floor(extract(epoch FROM ($1 - COALESCE(CASE WHEN status = 'pending' \
             THEN pending_since ELSE due_at END, $1)))::FLOAT8 / $2))::INT END AS level, \
           count(*) AS n \
         FROM tasks WHERE {DUE} GROUP BY 1, 2"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(config.aging_after.map(|d| d.as_secs_f64()))
        .fetch_all(conn)
        .await
        .db("measure depth")?;
    let mut depth = Depth::default();
    let what = "read depth";
    for row in found {
        let tenant = rows::tenant_id(row.try_get::<&str, _>("tenant_id").db(what)?)?;
        let level: i32 = row.try_get("level").db(what)?;
        let level = usize::try_from(level.clamp(0, 3)).unwrap_or(3);
        let n = rows::unsigned(row.try_get("n").db(what)?);
        depth.by_priority[level] += n;
        depth.by_tenant.entry(tenant).or_default()[level] += n;
    }
    Ok(depth)
}

/// Tasks leased to `agent`.
pub(crate) async fn load(conn: &mut PgConnection, agent: &AgentId) -> Result<u32, Fault> {
    let sql = format!("SELECT count(*) FROM tasks WHERE assignee = $1 AND status IN {LEASED}");
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(agent.as_str())
        .fetch_one(conn)
        .await
        .db("measure an agent's load")?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
