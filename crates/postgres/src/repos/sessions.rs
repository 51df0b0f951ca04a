//! [`PgSessionRepository`]: sessions in `sessions`, updated under an optimistic version check
//! (`UPDATE .. WHERE version = $new - 1`), so an update from a stale copy changes nothing.

use async_trait::async_trait;
use godel_lifecycle::{RepositoryError, SessionFilter, SessionRecord, SessionRepository};
use godel_types::{SessionId, SessionState, TeamId, TenantId};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool};

use super::{Select, begin_for_tenant, read_tenant_record, to_i64, write_error};
use crate::error;

/// A [`SessionRepository`] on Postgres.
#[derive(Debug, Clone)]
pub struct PgSessionRepository {
    pool: PgPool,
}

impl PgSessionRepository {
    /// A repository over `pool` (a database migrated with [`crate::migrate()`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A version as a SQL `BIGINT` (versions grow by one per update: `i64::MAX` is out of reach).
fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `state NOT IN (<every terminal state>)`, from the states themselves (the partial index
/// `sessions_open_idx` has the same predicate).
fn open_condition() -> String {
    let terminal: Vec<String> = SessionState::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("state NOT IN ({})", terminal.join(", "))
}

#[async_trait]
impl SessionRepository for PgSessionRepository {
    async fn insert(&self, session: SessionRecord) -> Result<(), RepositoryError> {
        let what = "insert a session";
        let mut tx = begin_for_tenant(&self.pool, &session.tenant)
            .await
            .map_err(|e| error::repository(what, e))?;
        sqlx::query(
            "INSERT INTO sessions \
             (id, tenant_id, agent_id, instance_id, team_id, state, version, record) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(session.id.as_uuid())
        .bind(session.tenant.as_str())
        .bind(session.agent.as_str())
        .bind(session.instance.as_uuid())
        .bind(session.team.as_ref().map(TeamId::as_uuid))
        .bind(session.state.as_str())
        .bind(version(session.version))
        .bind(Json(&session))
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error("session", session.id, what, e))?;
        tx.commit().await.map_err(|e| error::repository(what, e))
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: SessionId,
    ) -> Result<SessionRecord, RepositoryError> {
        read_tenant_record(
            &self.pool,
            "SELECT record FROM sessions WHERE id = $1 AND tenant_id = $2",
            "session",
            tenant,
            *id.as_uuid(),
        )
        .await
    }

    async fn update(&self, session: &SessionRecord) -> Result<(), RepositoryError> {
        let fail = |e| error::repository("update a session", e);
        let mut tx = begin_for_tenant(&self.pool, &session.tenant)
            .await
            .map_err(fail)?;
        let updated = match session.version.checked_sub(1) {
            Some(previous) => sqlx::query(
                "UPDATE sessions SET agent_id = $4, instance_id = $5, team_id = $6, state = $7, \
                 version = $8, record = $9 \
                 WHERE id = $1 AND tenant_id = $2 AND version = $3",
            )
            .bind(session.id.as_uuid())
            .bind(session.tenant.as_str())
            .bind(version(previous))
            .bind(session.agent.as_str())
            .bind(session.instance.as_uuid())
            .bind(session.team.as_ref().map(TeamId::as_uuid))
            .bind(session.state.as_str())
            .bind(version(session.version))
            .bind(Json(session))
            .execute(&mut *tx)
            .await
            .map_err(fail)?
            .rows_affected(),
            // Version 0 has no predecessor: no stored copy can match.
            None => 0,
        };
        if updated == 0 {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND tenant_id = $2)",
            )
            .bind(session.id.as_uuid())
            .bind(session.tenant.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(fail)?;
            return Err(if exists {
                RepositoryError::conflict("session", session.id)
            } else {
                RepositoryError::not_found("session", session.id)
            });
        }
        tx.commit().await.map_err(fail)
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, RepositoryError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut select = Select::new("SELECT record FROM sessions");
        if filter.tenant.is_some() {
            select.filter("tenant_id = $");
        }
        if filter.agent.is_some() {
            select.filter("agent_id = $");
        }
        if filter.instance.is_some() {
            select.filter("instance_id = $");
        }
        if filter.team.is_some() {
            select.filter("team_id = $");
        }
        if !filter.states.is_empty() {
            select.filter("state = ANY($)");
        }
        if filter.open_only {
            select.constant(&open_condition());
        }
        if after.is_some() {
            select.filter("id > $");
        }
        let sql = select.finish(" ORDER BY id LIMIT ");

        let states: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
        let mut query = sqlx::query_scalar::<_, Json<SessionRecord>>(AssertSqlSafe(sql));
        if let Some(tenant) = &filter.tenant {
            query = query.bind(tenant.as_str());
        }
        if let Some(agent) = &filter.agent {
            query = query.bind(agent.as_str());
        }
        if let Some(instance) = &filter.instance {
            query = query.bind(instance.as_uuid());
        }
        if let Some(team) = &filter.team {
            query = query.bind(team.as_uuid());
        }
        if !states.is_empty() {
            query = query.bind(&states);
        }
        if let Some(after) = &after {
            query = query.bind(after.as_uuid());
        }
        query = query.bind(to_i64(limit));

        let fail = |e| error::repository("list sessions", e);
        let found = match &filter.tenant {
            Some(tenant) => {
                let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
                let found = query.fetch_all(&mut *tx).await.map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                found
            }
            None => query.fetch_all(&self.pool).await.map_err(fail)?,
        };
        Ok(found.into_iter().map(|Json(s)| s).collect())
    }
}
