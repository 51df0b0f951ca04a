//! Reports by a lease holder (start, heartbeat, ack, fail, release) and lease recovery
//! (reap_expired, fail_over). Every report locks the task row and checks the token first.

use std::time::Duration;

use godel_queue::{
    AgentId, FailOutcome, Failure, Heartbeat, Jitter, LeaseRefusal, LeaseToken, Payload,
    QueueConfig, QueueError, Requeued, TaskId, TaskStatus,
};
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::counters::Counters;
use super::fault::{DbContext, Fault};
use super::rows::{self, LEASED};
use super::transitions::{
    dead_letter, finish_cancelled, make_pending, unblock_dependents, unblock_dependents_of,
};

/// The live lease a token was checked against.
struct Held {
    status: TaskStatus,
    cancel_requested: bool,
    attempt_count: u32,
    max_attempts: u32,
    assignee: Option<String>,
}

/// Locks the task and checks that `token` is its live lease (refused from the instant it
/// expires).
async fn check(
    conn: &mut PgConnection,
    token: &LeaseToken,
    now: OffsetDateTime,
) -> Result<Held, Fault> {
    let row = sqlx::query(
        "SELECT status, lease_fence, lease_expires_at, cancel_requested, attempt_count, \
         max_attempts, assignee FROM tasks WHERE id = $1 FOR UPDATE",
    )
    .bind(token.task.as_uuid())
    .fetch_optional(conn)
    .await
    .db("lock a leased task")?
    .ok_or(QueueError::NotFound(token.task))?;
    let what = "read a leased task";
    let fence: Option<i64> = row.try_get("lease_fence").db(what)?;
    let expires: Option<OffsetDateTime> = row.try_get("lease_expires_at").db(what)?;
    let refuse = |reason| {
        Err(Fault::Queue(QueueError::StaleLease {
            task: token.task,
            reason,
        }))
    };
    match (fence, expires) {
        (Some(fence), Some(expires)) if rows::unsigned(fence) == token.fence => {
            if now >= expires {
                return refuse(LeaseRefusal::Expired);
            }
        }
        (Some(_), _) => return refuse(LeaseRefusal::Superseded),
        _ => return refuse(LeaseRefusal::NotLeased),
    }
    Ok(Held {
        status: rows::status(row.try_get::<&str, _>("status").db(what)?)?,
        cancel_requested: row.try_get("cancel_requested").db(what)?,
        attempt_count: rows::unsigned32(row.try_get("attempt_count").db(what)?),
        max_attempts: rows::unsigned32(row.try_get("max_attempts").db(what)?),
        assignee: row.try_get("assignee").db(what)?,
    })
}

/// Marks the leased task running (idempotent for the holder).
pub(crate) async fn start(
    conn: &mut PgConnection,
    token: &LeaseToken,
    now: OffsetDateTime,
) -> Result<(), Fault> {
    if check(conn, token, now).await?.status == TaskStatus::Running {
        return Ok(());
    }
    sqlx::query(
        "UPDATE tasks SET status = 'running', started_at = $2, updated_at = $2 WHERE id = $1",
    )
    .bind(token.task.as_uuid())
    .bind(now)
    .execute(conn)
    .await
    .db("start a task")?;
    Ok(())
}

/// Extends the lease by the TTL from now.
pub(crate) async fn heartbeat(
    conn: &mut PgConnection,
    token: &LeaseToken,
    lease_ttl: Duration,
    now: OffsetDateTime,
) -> Result<Heartbeat, Fault> {
    let held = check(conn, token, now).await?;
    let expires_at = now + lease_ttl;
    sqlx::query("UPDATE tasks SET lease_expires_at = $2, updated_at = $3 WHERE id = $1")
        .bind(token.task.as_uuid())
        .bind(expires_at)
        .bind(now)
        .execute(conn)
        .await
        .db("extend a lease")?;
    Ok(Heartbeat {
        expires_at,
        cancel_requested: held.cancel_requested,
    })
}

/// Completes the task and unblocks its dependents.
pub(crate) async fn ack(
    conn: &mut PgConnection,
    token: &LeaseToken,
    result: Option<Payload>,
    now: OffsetDateTime,
    counters: &mut Counters,
) -> Result<(), Fault> {
    check(conn, token, now).await?;
    sqlx::query(
        "UPDATE tasks SET status = 'completed', result = $2, finished_at = $3, updated_at = $3, \
         assignee = NULL, lease_fence = NULL, lease_expires_at = NULL, claim_keys = '{}' \
         WHERE id = $1",
    )
    .bind(token.task.as_uuid())
    .bind(result.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await
    .db("complete a task")?;
    counters.completed += 1;
    unblock_dependents(conn, token.task, now).await
}

/// One ack of a group: the token, its result, and the clock reading taken when it was made.
pub(crate) struct AckRequest {
    pub(crate) token: LeaseToken,
    pub(crate) result: Option<Payload>,
    pub(crate) now: OffsetDateTime,
}

/// Acks every request of `acks` in this transaction, as if one after the other: the live
/// leases are completed in one statement and their dependents unblocked in one more; each
/// other request gets the refusal [`ack`] would have given it.
pub(crate) async fn ack_all(
    conn: &mut PgConnection,
    acks: &[AckRequest],
    counters: &mut Counters,
) -> Result<Vec<Result<(), QueueError>>, Fault> {
    let ids: Vec<Uuid> = acks.iter().map(|a| *a.token.task.as_uuid()).collect();
    let fences: Vec<i64> = acks.iter().map(|a| rows::signed(a.token.fence)).collect();
    let results: Vec<Option<&serde_json::Value>> =
        acks.iter().map(|a| a.result.as_deref()).collect();
    let nows: Vec<OffsetDateTime> = acks.iter().map(|a| a.now).collect();
    let completed: Vec<(Uuid, i64)> = sqlx::query_as(
        "UPDATE tasks t SET status = 'completed', result = a.result, finished_at = a.at, \
           updated_at = a.at, assignee = NULL, lease_fence = NULL, lease_expires_at = NULL, \
           claim_keys = '{}' \
         FROM unnest($1::UUID[], $2::INT8[], $3::JSONB[], $4::TIMESTAMPTZ[]) \
           AS a(id, fence, result, at) \
         WHERE t.id = a.id AND t.lease_fence = a.fence AND t.lease_expires_at > a.at \
         RETURNING t.id, a.fence",
    )
    .bind(&ids)
    .bind(&fences)
    .bind(&results)
    .bind(&nows)
    .fetch_all(&mut *conn)
    .await
    .db("complete tasks")?;
    counters.completed += i64::try_from(completed.len()).unwrap_or(i64::MAX);
    let latest = nows.iter().max().copied();
    if let Some(now) = latest
        && !completed.is_empty()
    {
        let ids: Vec<Uuid> = completed.iter().map(|(id, _)| *id).collect();
        unblock_dependents_of(conn, &ids, now).await?;
    }
    let mut answers = Vec::with_capacity(acks.len());
    // A completed task answers the first ack holding its live token; any other ack of it is
    // checked as it would be after that one (and refused).
    let mut unanswered = completed;
    for request in acks {
        let live = (
            *request.token.task.as_uuid(),
            rows::signed(request.token.fence),
        );
        if let Some(at) = unanswered.iter().position(|c| *c == live) {
            unanswered.swap_remove(at);
            answers.push(Ok(()));
            continue;
        }
        let answer = match check(conn, &request.token, request.now).await {
            // Not refused now (it cannot be: the statement above saw the same row): ack it
            // the one-at-a-time way.
            Ok(_) => ack_one(conn, request, counters).await,
            Err(fault) => Err(fault),
        };
        match answer {
            Ok(()) => answers.push(Ok(())),
            Err(Fault::Queue(refused)) => answers.push(Err(refused)),
            Err(fault) => return Err(fault),
        }
    }
    Ok(answers)
}

async fn ack_one(
    conn: &mut PgConnection,
    request: &AckRequest,
    counters: &mut Counters,
) -> Result<(), Fault> {
    ack(
        conn,
        &request.token,
        request.result.clone(),
        request.now,
        counters,
    )
    .await
}

/// Counts a failed attempt: the task is dead-lettered when out of attempts (or `permanent`).
/// Returns the attempts so far, or `None` when it was dead-lettered.
async fn count_failure(
    conn: &mut PgConnection,
    id: TaskId,
    held: &Held,
    message: &str,
    permanent: bool,
    now: OffsetDateTime,
    counters: &mut Counters,
) -> Result<Option<u32>, Fault> {
    counters.failed_attempts += 1;
    let attempts = held.attempt_count.saturating_add(1);
    sqlx::query("UPDATE tasks SET attempt_count = $2, last_error = $3 WHERE id = $1")
        .bind(id.as_uuid())
        .bind(rows::signed32(attempts))
        .bind(message)
        .execute(&mut *conn)
        .await
        .db("count a failed attempt")?;
    if permanent || attempts >= held.max_attempts {
        dead_letter(conn, id, now, counters).await?;
        return Ok(None);
    }
    Ok(Some(attempts))
}

/// Ends the attempt as failed: cancelled, dead-lettered, or waiting for its backoff.
pub(crate) async fn fail(
    conn: &mut PgConnection,
    token: &LeaseToken,
    failure: Failure,
    config: &QueueConfig,
    jitter: &dyn Jitter,
    now: OffsetDateTime,
    counters: &mut Counters,
) -> Result<FailOutcome, Fault> {
    let held = check(conn, token, now).await?;
    let id = token.task;
    if held.cancel_requested {
        finish_cancelled(conn, id, "cancelled while running", now).await?;
        return Ok(FailOutcome::Cancelled);
    }
    let counted = count_failure(
        conn,
        id,
        &held,
        &failure.message,
        !failure.retryable,
        now,
        counters,
    )
    .await?;
    let Some(attempts) = counted else {
        return Ok(FailOutcome::DeadLettered);
    };
    let backoff = config.retry.delay(attempts, jitter);
    let due_at = now + backoff.max(failure.retry_after.unwrap_or(Duration::ZERO));
    sqlx::query(
        "UPDATE tasks SET status = 'failed', due_at = $2, updated_at = $3, pending_since = NULL, \
         assignee = NULL, lease_fence = NULL, lease_expires_at = NULL, claim_keys = '{}' \
         WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(due_at)
    .bind(now)
    .execute(conn)
    .await
    .db("wait a failed task for its retry")?;
    Ok(FailOutcome::Retrying {
        attempt_count: attempts,
        due_at,
    })
}

/// Gives the task back without counting an attempt.
pub(crate) async fn release(
    conn: &mut PgConnection,
    token: &LeaseToken,
    now: OffsetDateTime,
) -> Result<TaskStatus, Fault> {
    let held = check(conn, token, now).await?;
    if held.cancel_requested {
        finish_cancelled(conn, token.task, "cancelled while leased", now).await?;
        return Ok(TaskStatus::Cancelled);
    }
    make_pending(conn, token.task, now).await?;
    Ok(TaskStatus::Pending)
}

/// Recovers the leases of the tasks `ids` (locked by the caller): each counts as a failed
/// attempt with `reason`, unless a cancel was requested.
async fn recover(
    conn: &mut PgConnection,
    held: Vec<(TaskId, Held)>,
    reason: &str,
    now: OffsetDateTime,
    counters: &mut Counters,
) -> Result<Vec<Requeued>, Fault> {
    let mut out = Vec::with_capacity(held.len());
    for (id, held) in held {
        let agent = held
            .assignee
            .as_deref()
            .ok_or_else(|| Fault::corrupt(format!("leased task {id} has no assignee")))?;
        let agent = rows::agent_id(agent)?;
        let status = if held.cancel_requested {
            finish_cancelled(conn, id, "cancelled while leased", now).await?;
            TaskStatus::Cancelled
        } else if count_failure(conn, id, &held, reason, false, now, counters)
            .await?
            .is_some()
        {
            make_pending(conn, id, now).await?;
            TaskStatus::Pending
        } else {
            TaskStatus::DeadLetter
        };
        out.push(Requeued {
            task: id,
            agent,
            status,
        });
    }
    Ok(out)
}

/// Locks the leased tasks matching `condition` (`$1` now, `$2` an agent), by expiry, skipping
/// any another transaction holds (it is ending that lease itself).
async fn lock_leased(
    conn: &mut PgConnection,
    condition: &'static str,
    now: OffsetDateTime,
    agent: Option<&AgentId>,
) -> Result<Vec<(TaskId, Held)>, Fault> {
    let sql = format!(
        "SELECT id, status, cancel_requested, attempt_count, max_attempts, assignee FROM tasks \
         WHERE status IN {LEASED} AND {condition} ORDER BY lease_expires_at, id \
         FOR UPDATE SKIP LOCKED"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(agent.map(AgentId::as_str))
        .fetch_all(conn)
        .await
        .db("lock leased tasks")?;
    let what = "read leased tasks";
    found
        .iter()
        .map(|row| {
            let id: Uuid = row.try_get("id").db(what)?;
            Ok((
                TaskId::from_uuid(id),
                Held {
                    status: rows::status(row.try_get::<&str, _>("status").db(what)?)?,
                    cancel_requested: row.try_get("cancel_requested").db(what)?,
                    attempt_count: rows::unsigned32(row.try_get("attempt_count").db(what)?),
                    max_attempts: rows::unsigned32(row.try_get("max_attempts").db(what)?),
                    assignee: row.try_get("assignee").db(what)?,
                },
            ))
        })
        .collect()
}

/// Recovers every expired lease.
pub(crate) async fn reap_expired(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    counters: &mut Counters,
) -> Result<Vec<Requeued>, Fault> {
    let held = lock_leased(
        conn,
        "lease_expires_at <= $1 AND $2::TEXT IS NULL",
        now,
        None,
    )
    .await?;
    recover(conn, held, "lease expired", now, counters).await
}

/// Recovers every lease `agent` holds.
pub(crate) async fn fail_over(
    conn: &mut PgConnection,
    agent: &AgentId,
    reason: &str,
    now: OffsetDateTime,
    counters: &mut Counters,
) -> Result<Vec<Requeued>, Fault> {
    let held = lock_leased(
        conn,
        "assignee = $2 AND $1::TIMESTAMPTZ IS NOT NULL",
        now,
        Some(agent),
    )
    .await?;
    recover(conn, held, &format!("failover: {reason}"), now, counters).await
}
