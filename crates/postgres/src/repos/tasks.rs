//! [`PgTaskRepository`]: task details in `task_context`, their runs in `task_runs` (ordered by
//! the identity column `seq`, so runs read back in the order they were added).

use std::time::Duration;

use async_trait::async_trait;
use godel_lifecycle::{RepositoryError, RunId, RunOutcome, RunRecord, TaskDetails, TaskRepository};
use godel_types::{AgentId, InstanceId, SessionId, TaskId, TeamId, TenantId};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{begin_for_tenant, decode_error, write_error};
use crate::error;

/// A [`TaskRepository`] on Postgres.
#[derive(Debug, Clone)]
pub struct PgTaskRepository {
    pool: PgPool,
}

impl PgTaskRepository {
    /// A repository over `pool` (a database migrated with [`crate::migrate()`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Adds `run` to task `id` of `tenant`; 0 rows when the task has no details for the tenant.
const INSERT_RUN: &str = "INSERT INTO task_runs \
     (task_id, run_id, tenant_id, attempt, agent_id, instance_id, session_id, started_at, \
      ended_at, outcome) \
     SELECT task_id, $3, tenant_id, $4, $5, $6, $7, $8, $9, $10 \
     FROM task_context WHERE task_id = $1 AND tenant_id = $2";

/// A `task_runs` row, in the column order of the `SELECT` in [`read_runs`].
type RunRow = (
    String,
    i64,
    String,
    Uuid,
    Uuid,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<Json<RunOutcome>>,
);

/// A [`RunRow`] with its task's id first, for reads of several tasks' runs.
type RunRowOf = (
    Uuid,
    String,
    i64,
    String,
    Uuid,
    Uuid,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<Json<RunOutcome>>,
);

async fn insert_run(
    conn: &mut PgConnection,
    tenant: &TenantId,
    id: TaskId,
    run: &RunRecord,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(INSERT_RUN)
        .bind(id.as_uuid())
        .bind(tenant.as_str())
        .bind(run.run.as_str())
        .bind(i64::from(run.attempt))
        .bind(run.agent.as_str())
        .bind(run.instance.as_uuid())
        .bind(run.session.as_uuid())
        .bind(run.started_at)
        .bind(run.ended_at)
        .bind(run.outcome.as_ref().map(Json))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

async fn read_runs(
    conn: &mut PgConnection,
    tenant: &TenantId,
    id: TaskId,
) -> Result<Vec<RunRecord>, sqlx::Error> {
    let rows: Vec<RunRow> = sqlx::query_as(
        "SELECT run_id, attempt, agent_id, instance_id, session_id, started_at, ended_at, outcome \
         FROM task_runs WHERE task_id = $1 AND tenant_id = $2 ORDER BY seq",
    )
    .bind(id.as_uuid())
    .bind(tenant.as_str())
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(run_from_row).collect()
}

fn run_from_row(row: RunRow) -> Result<RunRecord, sqlx::Error> {
    let (run, attempt, agent, instance, session, started_at, ended_at, outcome) = row;
    Ok(RunRecord {
        run: RunId::new(run),
        attempt: u32::try_from(attempt).map_err(decode_error)?,
        agent: AgentId::parse(&agent).map_err(decode_error)?,
        instance: InstanceId::from_uuid(instance),
        session: SessionId::from_uuid(session),
        started_at,
        ended_at,
        outcome: outcome.map(|Json(o)| o),
    })
}

/// Seconds as a SQL `BIGINT`, saturating at `i64::MAX` (about 292 billion years).
fn secs(timeout: Duration) -> i64 {
    i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX)
}

#[async_trait]
impl TaskRepository for PgTaskRepository {
    async fn insert(&self, details: TaskDetails) -> Result<(), RepositoryError> {
        let what = "insert task details";
        let mut tx = begin_for_tenant(&self.pool, &details.tenant)
            .await
            .map_err(|e| error::repository(what, e))?;
        sqlx::query(
            "INSERT INTO task_context (task_id, tenant_id, session_id, team_id, timeout_secs) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(details.id.as_uuid())
        .bind(details.tenant.as_str())
        .bind(details.session.as_ref().map(SessionId::as_uuid))
        .bind(details.team.as_ref().map(TeamId::as_uuid))
        .bind(details.timeout.map(secs))
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error("task", details.id, what, e))?;
        for run in &details.runs {
            insert_run(&mut tx, &details.tenant, details.id, run)
                .await
                .map_err(|e| write_error("run", &run.run, what, e))?;
        }
        tx.commit().await.map_err(|e| error::repository(what, e))
    }

    async fn get(&self, tenant: &TenantId, id: TaskId) -> Result<TaskDetails, RepositoryError> {
        let what = "read task details";
        let fail = |e| error::repository(what, e);
        let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
        let context: Option<(Option<Uuid>, Option<Uuid>, Option<i64>)> = sqlx::query_as(
            "SELECT session_id, team_id, timeout_secs FROM task_context \
             WHERE task_id = $1 AND tenant_id = $2",
        )
        .bind(id.as_uuid())
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(fail)?;
        let Some((session, team, timeout)) = context else {
            return Err(RepositoryError::not_found("task", id));
        };
        let timeout = timeout
            .map(|s| u64::try_from(s).map(Duration::from_secs))
            .transpose()
            .map_err(|e| fail(decode_error(e)))?;
        let runs = read_runs(&mut tx, tenant, id).await.map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(TaskDetails {
            id,
            tenant: tenant.clone(),
            session: session.map(SessionId::from_uuid),
            team: team.map(TeamId::from_uuid),
            timeout,
            runs,
        })
    }

    async fn get_many(
        &self,
        tenant: &TenantId,
        ids: &[TaskId],
    ) -> Result<Vec<TaskDetails>, RepositoryError> {
        let what = "read task details";
        let fail = |e| error::repository(what, e);
        let uuids: Vec<Uuid> = ids.iter().map(|id| *id.as_uuid()).collect();
        let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
        let contexts: Vec<(Uuid, Option<Uuid>, Option<Uuid>, Option<i64>)> = sqlx::query_as(
            "SELECT task_id, session_id, team_id, timeout_secs FROM task_context \
             WHERE task_id = ANY($1) AND tenant_id = $2",
        )
        .bind(&uuids)
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(fail)?;
        let runs: Vec<(Uuid, RunRow)> = sqlx::query_as::<_, RunRowOf>(
            "SELECT task_id, run_id, attempt, agent_id, instance_id, session_id, started_at, \
             ended_at, outcome FROM task_runs WHERE task_id = ANY($1) AND tenant_id = $2 \
             ORDER BY seq",
        )
        .bind(&uuids)
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(fail)?
        .into_iter()
        .map(
            |(task, run, attempt, agent, instance, session, started, ended, outcome)| {
                (
                    task,
                    (
                        run, attempt, agent, instance, session, started, ended, outcome,
                    ),
                )
            },
        )
        .collect();
        tx.commit().await.map_err(fail)?;
        let mut found = Vec::with_capacity(contexts.len());
        for (task, session, team, timeout) in contexts {
            let timeout = timeout
                .map(|s| u64::try_from(s).map(Duration::from_secs))
                .transpose()
                .map_err(|e| fail(decode_error(e)))?;
            let task_runs = runs
                .iter()
                .filter(|(of, _)| *of == task)
                .map(|(_, row)| run_from_row(row.clone()))
                .collect::<Result<_, _>>()
                .map_err(fail)?;
            found.push(TaskDetails {
                id: TaskId::from_uuid(task),
                tenant: tenant.clone(),
                session: session.map(SessionId::from_uuid),
                team: team.map(TeamId::from_uuid),
                timeout,
                runs: task_runs,
            });
        }
        Ok(found)
    }

    async fn add_run(
        &self,
        tenant: &TenantId,
        id: TaskId,
        run: RunRecord,
    ) -> Result<(), RepositoryError> {
        let what = "add a task run";
        let mut tx = begin_for_tenant(&self.pool, tenant)
            .await
            .map_err(|e| error::repository(what, e))?;
        let added = insert_run(&mut tx, tenant, id, &run)
            .await
            .map_err(|e| write_error("run", &run.run, what, e))?;
        if added == 0 {
            return Err(RepositoryError::not_found("task", id));
        }
        tx.commit().await.map_err(|e| error::repository(what, e))
    }

    async fn end_run(
        &self,
        tenant: &TenantId,
        id: TaskId,
        run: &RunId,
        outcome: RunOutcome,
        at: OffsetDateTime,
    ) -> Result<(), RepositoryError> {
        let what = "end a task run";
        let fail = |e| error::repository(what, e);
        let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
        let ended = sqlx::query(
            "UPDATE task_runs SET outcome = $4, ended_at = $5 \
             WHERE task_id = $1 AND run_id = $2 AND tenant_id = $3 AND outcome IS NULL",
        )
        .bind(id.as_uuid())
        .bind(run.as_str())
        .bind(tenant.as_str())
        .bind(Json(&outcome))
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        if ended.rows_affected() == 0 {
            // Nothing to end: an unknown task or run, or a run that has ended already.
            let (task_known, run_known): (bool, bool) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM task_context WHERE task_id = $1 AND tenant_id = $3), \
                        EXISTS (SELECT 1 FROM task_runs \
                                WHERE task_id = $1 AND run_id = $2 AND tenant_id = $3)",
            )
            .bind(id.as_uuid())
            .bind(run.as_str())
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(fail)?;
            if !task_known {
                return Err(RepositoryError::not_found("task", id));
            }
            if !run_known {
                return Err(RepositoryError::not_found("run", run));
            }
        }
        tx.commit().await.map_err(fail)
    }

    async fn remove(&self, ids: &[TaskId]) -> Result<u64, RepositoryError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = ids.iter().map(|id| *id.as_uuid()).collect();
        let done = sqlx::query("DELETE FROM task_context WHERE task_id = ANY($1)")
            .bind(&ids)
            .execute(&self.pool)
            .await
            .map_err(|e| error::repository("remove task details", e))?;
        Ok(done.rows_affected())
    }
}
