//! Status moves shared by several operations: back to pending, cancelled or dead-lettered (with
//! the cascade to blocked dependents), and unblocking dependents when a task completes.

use godel_queue::{TaskId, TaskStatus};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::counters::Counters;
use super::fault::{DbContext, Fault};

/// Makes a task pending (due at once), clearing any lease it held.
pub(crate) async fn make_pending(
    conn: &mut PgConnection,
    id: TaskId,
    now: OffsetDateTime,
) -> Result<(), Fault> {
    sqlx::query(
        "UPDATE tasks SET status = 'pending', due_at = NULL, pending_since = $2, updated_at = $2, \
         assignee = NULL, lease_fence = NULL, lease_expires_at = NULL, claim_keys = '{}' \
         WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(now)
    .execute(conn)
    .await
    .db("make a task pending")?;
    Ok(())
}

/// Ends a task as cancelled for `reason` (clearing any lease), and cancels the dependents
/// still blocked on it.
pub(crate) async fn finish_cancelled(
    conn: &mut PgConnection,
    id: TaskId,
    reason: &str,
    now: OffsetDateTime,
) -> Result<(), Fault> {
    sqlx::query(
        "UPDATE tasks SET status = 'cancelled', last_error = $2, finished_at = $3, \
         updated_at = $3, due_at = NULL, dead_lettered_at = NULL, pending_since = NULL, \
         assignee = NULL, lease_fence = NULL, lease_expires_at = NULL, claim_keys = '{}' \
         WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await
    .db("cancel a task")?;
    cascade_cancel(conn, id, TaskStatus::Cancelled, now).await
}

/// Moves a task to the dead letter queue (clearing any lease), and cancels the dependents
/// still blocked on it.
pub(crate) async fn dead_letter(
    conn: &mut PgConnection,
    id: TaskId,
    now: OffsetDateTime,
    counters: &mut Counters,
) -> Result<(), Fault> {
    sqlx::query(
        "UPDATE tasks SET status = 'dead_letter', dead_lettered_at = $2, finished_at = $2, \
         updated_at = $2, due_at = NULL, pending_since = NULL, assignee = NULL, \
         lease_fence = NULL, lease_expires_at = NULL, claim_keys = '{}' WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(now)
    .execute(&mut *conn)
    .await
    .db("dead-letter a task")?;
    counters.dead_lettered += 1;
    cascade_cancel(conn, id, TaskStatus::DeadLetter, now).await
}

/// Cancels, transitively, every task still blocked on `id`, which ended as `status`.
async fn cascade_cancel(
    conn: &mut PgConnection,
    id: TaskId,
    status: TaskStatus,
    now: OffsetDateTime,
) -> Result<(), Fault> {
    let mut work = vec![(id, status)];
    while let Some((cause, cause_status)) = work.pop() {
        let reason = format!("dependency {cause} is {cause_status}");
        let cancelled: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE tasks SET status = 'cancelled', last_error = $2, finished_at = $3, \
             updated_at = $3 WHERE status = 'blocked' AND depends_on @> ARRAY[$1]::UUID[] \
             RETURNING id",
        )
        .bind(cause.as_uuid())
        .bind(&reason)
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .db("cancel blocked dependents")?;
        work.extend(
            cancelled
                .into_iter()
                .map(|d| (TaskId::from_uuid(d), TaskStatus::Cancelled)),
        );
    }
    Ok(())
}

/// After `id` completed: dependents whose every dependency has completed become pending, or
/// scheduled if their own `scheduled_at` is still ahead.
pub(crate) async fn unblock_dependents(
    conn: &mut PgConnection,
    id: TaskId,
    now: OffsetDateTime,
) -> Result<(), Fault> {
    unblock_dependents_of(conn, &[*id.as_uuid()], now).await
}

/// As [`unblock_dependents`], for every task of `ids` (completed in this transaction).
pub(crate) async fn unblock_dependents_of(
    conn: &mut PgConnection,
    ids: &[Uuid],
    now: OffsetDateTime,
) -> Result<(), Fault> {
    // Lock the dependents first, in a statement of its own: a concurrent completion of another
    // dependency then either commits before the check below reads (and is seen), or waits for
    // this transaction and runs the check itself.
    let dependents: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM tasks WHERE status = 'blocked' AND depends_on && $1::UUID[] \
         ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .db("lock blocked dependents")?;
    if dependents.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE tasks t SET \
           status = CASE WHEN t.scheduled_at > $2 THEN 'scheduled' ELSE 'pending' END, \
           due_at = CASE WHEN t.scheduled_at > $2 THEN t.scheduled_at END, \
           pending_since = CASE WHEN t.scheduled_at > $2 THEN NULL ELSE $2 END, \
           updated_at = $2 \
         WHERE t.id = ANY($1) AND t.status = 'blocked' AND NOT EXISTS ( \
           SELECT 1 FROM tasks d WHERE d.id = ANY(t.depends_on) AND d.status <> 'completed')",
    )
    .bind(&dependents)
    .bind(now)
    .execute(conn)
    .await
    .db("unblock dependents")?;
    Ok(())
}
