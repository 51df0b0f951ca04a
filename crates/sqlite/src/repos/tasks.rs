//! [`SqliteTaskRepository`]: task details in `task_context`, their runs in `task_runs`.

use std::time::Duration;

use async_trait::async_trait;
use godel_lifecycle::{RepositoryError, RunId, RunOutcome, RunRecord, TaskDetails, TaskRepository};
use godel_types::{SessionId, TaskId, TeamId, TenantId};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;

use super::codec::{from_json, to_json, unix_nanos};
use super::error::{corrupt, insert_failed, unavailable, unencodable};

/// Most ids one `... IN (...)` binds (SQLite allows 32 766 variables).
const REMOVE_CHUNK: usize = 500;

/// One row of a details read: the task's columns, repeated on each of its runs (`NULL` run for
/// a task without runs).
type DetailsRow = (
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// Folds rows ordered by task into one [`TaskDetails`] per task, appended to `found`.
fn group_details(
    tenant: &TenantId,
    rows: Vec<DetailsRow>,
    found: &mut Vec<TaskDetails>,
) -> Result<(), RepositoryError> {
    let mut current: Option<(String, TaskDetails)> = None;
    for (task, session, team, timeout, run) in rows {
        if current.as_ref().is_none_or(|(id, _)| *id != task) {
            if let Some((_, done)) = current.take() {
                found.push(done);
            }
            let id = TaskId::parse(&task).map_err(|e| corrupt("task id", e))?;
            let details = TaskDetails {
                id,
                tenant: tenant.clone(),
                session: parse_column(session.as_deref(), SessionId::parse)?,
                team: parse_column(team.as_deref(), TeamId::parse)?,
                timeout: timeout.map(|s| Duration::from_secs(s.unsigned_abs())),
                runs: Vec::new(),
            };
            current = Some((task, details));
        }
        if let (Some(run), Some((_, details))) = (run, current.as_mut()) {
            details
                .runs
                .push(from_json::<RunRecord>(&run).map_err(|e| corrupt("run", e))?);
        }
    }
    found.extend(current.map(|(_, done)| done));
    Ok(())
}

/// A [`TaskRepository`] on SQLite; clones share the pool.
///
/// A task's details are one `task_context` row (all typed columns); each run is a
/// `task_runs` row whose `seq` keeps the order runs were added, with the run's JSON record.
#[derive(Debug, Clone)]
pub struct SqliteTaskRepository {
    pool: SqlitePool,
}

impl SqliteTaskRepository {
    /// A repository on `pool` (opened by [`crate::db::open`], so its schema is migrated).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

/// The typed name of an outcome, for the `outcome` column.
fn outcome_name(outcome: &RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Completed => "completed",
        RunOutcome::Failed { .. } => "failed",
        RunOutcome::TimedOut => "timed_out",
        RunOutcome::Aborted => "aborted",
        RunOutcome::Lost { .. } => "lost",
    }
}

/// Inserts `run` for task `id` if the task belongs to `tenant`; returns whether it did (false:
/// no such task for this tenant).
async fn insert_run(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    id: TaskId,
    run: &RunRecord,
) -> Result<bool, RepositoryError> {
    let record = to_json(run).map_err(|e| unencodable("run", e))?;
    let done = sqlx::query(
        "INSERT INTO task_runs (task_id, run_id, attempt, started_at, outcome, ended_at, record)
         SELECT task_id, ?, ?, ?, ?, ?, ? FROM task_context WHERE task_id = ? AND tenant_id = ?",
    )
    .bind(run.run.as_str())
    .bind(i64::from(run.attempt))
    .bind(unix_nanos(run.started_at))
    .bind(run.outcome.as_ref().map(outcome_name))
    .bind(run.ended_at.map(unix_nanos))
    .bind(record)
    .bind(id.to_string())
    .bind(tenant.as_str())
    .execute(conn)
    .await
    .map_err(|e| insert_failed("run", &run.run, e))?;
    Ok(done.rows_affected() == 1)
}

/// Parses an optional id column.
fn parse_column<T, E>(
    value: Option<&str>,
    parse: fn(&str) -> Result<T, E>,
) -> Result<Option<T>, RepositoryError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    value
        .map(|v| parse(v).map_err(|e| corrupt("task", e)))
        .transpose()
}

#[async_trait]
impl TaskRepository for SqliteTaskRepository {
    async fn insert(&self, details: TaskDetails) -> Result<(), RepositoryError> {
        // Details with runs are written all or none, under the write lock from the start.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| unavailable("starting a task transaction", e))?;
        let timeout = details
            .timeout
            .map(|t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX));
        sqlx::query(
            "INSERT INTO task_context (task_id, tenant_id, session_id, team_id, timeout_s)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(details.id.to_string())
        .bind(details.tenant.as_str())
        .bind(details.session.map(|s| s.to_string()))
        .bind(details.team.map(|t| t.to_string()))
        .bind(timeout)
        .execute(&mut *tx)
        .await
        .map_err(|e| insert_failed("task", details.id, e))?;
        for run in &details.runs {
            // The task row was inserted just above, in this transaction: the run finds it.
            insert_run(&mut tx, &details.tenant, details.id, run).await?;
        }
        tx.commit()
            .await
            .map_err(|e| unavailable("committing task details", e))
    }

    async fn get(&self, tenant: &TenantId, id: TaskId) -> Result<TaskDetails, RepositoryError> {
        self.get_many(tenant, &[id])
            .await?
            .pop()
            .ok_or_else(|| RepositoryError::not_found("task", id))
    }

    async fn get_many(
        &self,
        tenant: &TenantId,
        ids: &[TaskId],
    ) -> Result<Vec<TaskDetails>, RepositoryError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(REMOVE_CHUNK) {
            // One statement per chunk, so details and their runs come from the same snapshot.
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT c.task_id, c.session_id, c.team_id, c.timeout_s, r.record
                 FROM task_context c LEFT JOIN task_runs r ON r.task_id = c.task_id
                 WHERE c.tenant_id = ",
            );
            query.push_bind(tenant.as_str()).push(" AND c.task_id IN (");
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            query.push(") ORDER BY c.task_id, r.seq");
            let rows: Vec<DetailsRow> = query
                .build_query_as()
                .fetch_all(&self.pool)
                .await
                .map_err(|e| unavailable("reading task details", e))?;
            group_details(tenant, rows, &mut found)?;
        }
        Ok(found)
    }

    async fn add_run(
        &self,
        tenant: &TenantId,
        id: TaskId,
        run: RunRecord,
    ) -> Result<(), RepositoryError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| unavailable("acquiring a connection", e))?;
        if insert_run(&mut conn, tenant, id, &run).await? {
            Ok(())
        } else {
            Err(RepositoryError::not_found("task", id))
        }
    }

    async fn end_run(
        &self,
        tenant: &TenantId,
        id: TaskId,
        run: &RunId,
        outcome: RunOutcome,
        at: OffsetDateTime,
    ) -> Result<(), RepositoryError> {
        let found: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT r.record
             FROM task_context c LEFT JOIN task_runs r ON r.task_id = c.task_id AND r.run_id = ?
             WHERE c.task_id = ? AND c.tenant_id = ?",
        )
        .bind(run.as_str())
        .bind(id.to_string())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| unavailable("reading a run", e))?;
        let record = match found {
            None => return Err(RepositoryError::not_found("task", id)),
            Some((None,)) => return Err(RepositoryError::not_found("run", run)),
            Some((Some(record),)) => record,
        };
        let mut record: RunRecord = from_json(&record).map_err(|e| corrupt("run", e))?;
        if record.outcome.is_some() {
            return Ok(());
        }
        let name = outcome_name(&outcome);
        record.outcome = Some(outcome);
        record.ended_at = Some(at);
        let json = to_json(&record).map_err(|e| unencodable("run", e))?;
        // `outcome IS NULL`: of two concurrent ends, the first stands and the second changes
        // nothing, as if it had come later.
        sqlx::query(
            "UPDATE task_runs SET outcome = ?, ended_at = ?, record = ?
             WHERE task_id = ? AND run_id = ? AND outcome IS NULL",
        )
        .bind(name)
        .bind(unix_nanos(at))
        .bind(json)
        .bind(id.to_string())
        .bind(run.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| unavailable("ending a run", e))?;
        Ok(())
    }

    async fn remove(&self, ids: &[TaskId]) -> Result<u64, RepositoryError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| unavailable("starting a task transaction", e))?;
        let mut removed = 0;
        for chunk in ids.chunks(REMOVE_CHUNK) {
            let mut query =
                QueryBuilder::<Sqlite>::new("DELETE FROM task_context WHERE task_id IN (");
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            query.push(")");
            let done = query
                .build()
                .execute(&mut *tx)
                .await
                .map_err(|e| unavailable("removing task details", e))?;
            removed += done.rows_affected();
        }
        tx.commit()
            .await
            .map_err(|e| unavailable("committing task removal", e))?;
        Ok(removed)
    }
}
