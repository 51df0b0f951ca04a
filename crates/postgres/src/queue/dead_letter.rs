//! Cancel, and the dead letter queue: replay (one, or by filter), paging and purging; purging
//! finished tasks.

use std::time::Duration;

use godel_queue::{
    CancelOutcome, DeadLetterCursor, DeadLetterFilter, QueueError, TaskId, TaskRecord, TaskStatus,
};
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::fault::{DbContext, Fault};
use super::rows::{self, COLUMNS};
use super::transitions::{finish_cancelled, make_pending};

/// Locks a task and reads its status as `get` reports it.
async fn lock_status(
    conn: &mut PgConnection,
    id: TaskId,
    now: OffsetDateTime,
) -> Result<TaskStatus, Fault> {
    let row = sqlx::query("SELECT status, due_at FROM tasks WHERE id = $1 FOR UPDATE")
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await
        .db("lock a task")?
        .ok_or(QueueError::NotFound(id))?;
    let status = rows::status(row.try_get::<&str, _>("status").db("read a task")?)?;
    let due_at: Option<OffsetDateTime> = row.try_get("due_at").db("read a task")?;
    let due = due_at.is_some_and(|at| at <= now);
    Ok(match status {
        TaskStatus::Scheduled | TaskStatus::Failed if due => TaskStatus::Pending,
        other => other,
    })
}

/// Cancels a waiting task at once, or asks the holder of a leased one to stop.
pub(crate) async fn cancel(
    conn: &mut PgConnection,
    id: TaskId,
    reason: &str,
    now: OffsetDateTime,
) -> Result<CancelOutcome, Fault> {
    match lock_status(conn, id, now).await? {
        TaskStatus::Assigned | TaskStatus::Running => {
            sqlx::query("UPDATE tasks SET cancel_requested = TRUE, updated_at = $2 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(now)
                .execute(conn)
                .await
                .db("request a cancel")?;
            Ok(CancelOutcome::Requested)
        }
        from @ (TaskStatus::Completed | TaskStatus::Cancelled) => {
            Err(Fault::Queue(QueueError::IllegalTransition {
                task: id,
                from,
                to: TaskStatus::Cancelled,
            }))
        }
        _ => {
            finish_cancelled(conn, id, reason, now).await?;
            Ok(CancelOutcome::Cancelled)
        }
    }
}

/// Puts a dead letter back as pending with a fresh attempt count.
pub(crate) async fn replay(
    conn: &mut PgConnection,
    id: TaskId,
    now: OffsetDateTime,
) -> Result<(), Fault> {
    let status = lock_status(conn, id, now).await?;
    if status != TaskStatus::DeadLetter {
        return Err(Fault::Queue(QueueError::NotDeadLettered {
            task: id,
            status,
        }));
    }
    sqlx::query(
        "UPDATE tasks SET attempt_count = 0, dead_lettered_at = NULL, finished_at = NULL \
         WHERE id = $1",
    )
    .bind(id.as_uuid())
    .execute(&mut *conn)
    .await
    .db("reset a dead letter")?;
    make_pending(conn, id, now).await
}

/// The `WHERE` clause for dead letters matching a filter (values bind as `$1..$5`).
const DEAD_LETTERS: &str = "status = 'dead_letter' \
    AND ($1::TEXT IS NULL OR tenant_id = $1) \
    AND ($2::SMALLINT IS NULL OR priority = $2) \
    AND ($3::TIMESTAMPTZ IS NULL OR dead_lettered_at >= $3) \
    AND ($4::TIMESTAMPTZ IS NULL OR dead_lettered_at < $4) \
    AND ($5::TEXT IS NULL OR strpos(last_error, $5) > 0)";

fn bind_dead_letters<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    filter: &'q DeadLetterFilter,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(filter.tenant.as_ref().map(|t| t.as_str()))
        .bind(filter.priority.map(rows::rank))
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.error_contains.as_deref())
}

/// Replays every matching dead letter, oldest first.
pub(crate) async fn replay_dead_letters(
    conn: &mut PgConnection,
    filter: &DeadLetterFilter,
    now: OffsetDateTime,
) -> Result<Vec<TaskId>, Fault> {
    let sql = format!(
        "SELECT id FROM tasks WHERE {DEAD_LETTERS} ORDER BY dead_lettered_at, id FOR UPDATE"
    );
    let ids: Vec<Uuid> = bind_dead_letters(sqlx::query(sqlx::AssertSqlSafe(sql)), filter)
        .fetch_all(&mut *conn)
        .await
        .db("find dead letters")?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()
        .db("read dead letters")?;
    let ids: Vec<TaskId> = ids.into_iter().map(TaskId::from_uuid).collect();
    for id in &ids {
        replay(conn, *id, now).await?;
    }
    Ok(ids)
}

/// A page of matching dead letters after `after`.
pub(crate) async fn dead_letters(
    conn: &mut PgConnection,
    filter: &DeadLetterFilter,
    after: Option<DeadLetterCursor>,
    limit: usize,
    now: OffsetDateTime,
) -> Result<Vec<TaskRecord>, Fault> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks WHERE {DEAD_LETTERS} \
         AND ($6::TIMESTAMPTZ IS NULL OR (dead_lettered_at, id) > ($6, $7)) \
         ORDER BY dead_lettered_at, id LIMIT $8"
    );
    let found = bind_dead_letters(sqlx::query(sqlx::AssertSqlSafe(sql)), filter)
        .bind(after.map(|c| c.at))
        .bind(after.map(|c| *c.id.as_uuid()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(conn)
        .await
        .db("page dead letters")?;
    found.iter().map(|row| rows::record(row, now)).collect()
}

/// Deletes dead letters older than `retention`.
pub(crate) async fn purge_dead_letters(
    conn: &mut PgConnection,
    retention: Duration,
    now: OffsetDateTime,
) -> Result<u64, Fault> {
    let done =
        sqlx::query("DELETE FROM tasks WHERE status = 'dead_letter' AND dead_lettered_at < $1")
            .bind(now - retention)
            .execute(conn)
            .await
            .db("purge dead letters")?;
    Ok(done.rows_affected())
}

/// Deletes completed and cancelled tasks finished more than `retention` ago.
pub(crate) async fn purge_finished(
    conn: &mut PgConnection,
    retention: Duration,
    now: OffsetDateTime,
) -> Result<u64, Fault> {
    let done = sqlx::query(
        "DELETE FROM tasks WHERE status IN ('completed', 'cancelled') AND finished_at < $1",
    )
    .bind(now - retention)
    .execute(conn)
    .await
    .db("purge finished tasks")?;
    Ok(done.rows_affected())
}
