//! [`SqliteSessionRepository`]: sessions in `sessions`, with the optimistic version check done
//! by the `UPDATE` itself.

use async_trait::async_trait;
use godel_lifecycle::{RepositoryError, SessionFilter, SessionRecord, SessionRepository};
use godel_types::{SessionId, SessionState, TenantId};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::codec::{from_json, sql_limit, to_json, unix_nanos};
use super::error::{corrupt, insert_failed, out_of_range, unavailable, unencodable};

/// A [`SessionRepository`] on SQLite; clones share the pool.
///
/// `update` is one `UPDATE ... WHERE version = <given - 1>`: SQLite runs it under the write
/// lock, so of two writers holding the same copy exactly one matches the row.
#[derive(Debug, Clone)]
pub struct SqliteSessionRepository {
    pool: SqlitePool,
}

impl SqliteSessionRepository {
    /// A repository on `pool` (opened by [`crate::db::open`], so its schema is migrated).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Whether session `id` of `tenant` is stored.
    async fn exists(&self, tenant: &TenantId, id: SessionId) -> Result<bool, RepositoryError> {
        sqlx::query_scalar::<_, i64>("SELECT 1 FROM sessions WHERE id = ? AND tenant_id = ?")
            .bind(id.to_string())
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map(|found| found.is_some())
            .map_err(|e| unavailable("reading a session", e))
    }
}

/// A session's version as the `version` column holds it.
fn version_column(version: u64) -> Result<i64, RepositoryError> {
    i64::try_from(version).map_err(|_| out_of_range("session version"))
}

/// The JSON record of a session.
fn record_of(session: &SessionRecord) -> Result<String, RepositoryError> {
    to_json(session).map_err(|e| unencodable("session", e))
}

#[async_trait]
impl SessionRepository for SqliteSessionRepository {
    async fn insert(&self, session: SessionRecord) -> Result<(), RepositoryError> {
        let record = record_of(&session)?;
        sqlx::query(
            "INSERT INTO sessions (id, tenant_id, agent_id, instance_id, team_id, state, version,
                                   created_at, updated_at, record)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session.id.to_string())
        .bind(session.tenant.as_str())
        .bind(session.agent.as_str())
        .bind(session.instance.to_string())
        .bind(session.team.map(|t| t.to_string()))
        .bind(session.state.as_str())
        .bind(version_column(session.version)?)
        .bind(unix_nanos(session.created_at))
        .bind(unix_nanos(session.updated_at))
        .bind(record)
        .execute(&self.pool)
        .await
        .map_err(|e| insert_failed("session", session.id, e))?;
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: SessionId,
    ) -> Result<SessionRecord, RepositoryError> {
        let record: Option<String> =
            sqlx::query_scalar("SELECT record FROM sessions WHERE id = ? AND tenant_id = ?")
                .bind(id.to_string())
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| unavailable("reading a session", e))?;
        let record = record.ok_or_else(|| RepositoryError::not_found("session", id))?;
        from_json(&record).map_err(|e| corrupt("session", e))
    }

    async fn update(&self, session: &SessionRecord) -> Result<(), RepositoryError> {
        let version = version_column(session.version)?;
        let record = record_of(session)?;
        let done = sqlx::query(
            "UPDATE sessions
             SET agent_id = ?, instance_id = ?, team_id = ?, state = ?, version = ?,
                 created_at = ?, updated_at = ?, record = ?
             WHERE id = ? AND tenant_id = ? AND version = ?",
        )
        .bind(session.agent.as_str())
        .bind(session.instance.to_string())
        .bind(session.team.map(|t| t.to_string()))
        .bind(session.state.as_str())
        .bind(version)
        .bind(unix_nanos(session.created_at))
        .bind(unix_nanos(session.updated_at))
        .bind(record)
        .bind(session.id.to_string())
        .bind(session.tenant.as_str())
        // Version 0 has no predecessor: -1 matches no row.
        .bind(version - 1)
        .execute(&self.pool)
        .await
        .map_err(|e| unavailable("updating a session", e))?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        // Sessions are never deleted, so a session seen now was there for the update too.
        if self.exists(&session.tenant, session.id).await? {
            Err(RepositoryError::conflict("session", session.id))
        } else {
            Err(RepositoryError::not_found("session", session.id))
        }
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
        let mut query = QueryBuilder::<Sqlite>::new("SELECT record FROM sessions WHERE 1 = 1");
        if let Some(tenant) = &filter.tenant {
            query
                .push(" AND tenant_id = ")
                .push_bind(tenant.as_str().to_owned());
        }
        if let Some(agent) = &filter.agent {
            query
                .push(" AND agent_id = ")
                .push_bind(agent.as_str().to_owned());
        }
        if let Some(instance) = filter.instance {
            query
                .push(" AND instance_id = ")
                .push_bind(instance.to_string());
        }
        if let Some(team) = filter.team {
            query.push(" AND team_id = ").push_bind(team.to_string());
        }
        push_states(&mut query, &filter.states);
        if filter.open_only {
            let open: Vec<SessionState> = SessionState::ALL
                .iter()
                .copied()
                .filter(|s| !s.is_terminal())
                .collect();
            push_states(&mut query, &open);
        }
        if let Some(after) = after {
            query.push(" AND id > ").push_bind(after.to_string());
        }
        query
            .push(" ORDER BY id LIMIT ")
            .push_bind(sql_limit(limit));
        let records: Vec<String> = query
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| unavailable("listing sessions", e))?;
        records
            .iter()
            .map(|r| from_json(r).map_err(|e| corrupt("session", e)))
            .collect()
    }
}

/// Adds ` AND state IN (...)` for a non-empty `states`.
fn push_states(query: &mut QueryBuilder<Sqlite>, states: &[SessionState]) {
    if states.is_empty() {
        return;
    }
    query.push(" AND state IN (");
    let mut list = query.separated(", ");
    for state in states {
        list.push_bind(state.as_str());
    }
    query.push(")");
}
