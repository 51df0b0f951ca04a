//! [`PgAgentRepository`]: the fleet-wide agent registry in `agents` (no tenant: agents serve
//! every tenant from the shared pool, so the table has no row-level security).

use async_trait::async_trait;
use godel_lifecycle::{AgentRecord, AgentRepository, RepositoryError};
use godel_types::{AgentId, InstanceId};
use sqlx::PgPool;
use sqlx::types::Json;

use super::write_error;
use crate::error;

/// An [`AgentRepository`] on Postgres.
#[derive(Debug, Clone)]
pub struct PgAgentRepository {
    pool: PgPool,
}

impl PgAgentRepository {
    /// A repository over `pool` (a database migrated with [`crate::migrate()`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl AgentRepository for PgAgentRepository {
    async fn insert(&self, agent: AgentRecord) -> Result<(), RepositoryError> {
        sqlx::query("INSERT INTO agents (id, instance_id, record) VALUES ($1, $2, $3)")
            .bind(agent.id.as_str())
            .bind(agent.instance.as_uuid())
            .bind(Json(&agent))
            .execute(&self.pool)
            .await
            .map_err(|e| write_error("agent", &agent.id, "insert an agent", e))?;
        Ok(())
    }

    async fn get(&self, id: &AgentId) -> Result<AgentRecord, RepositoryError> {
        let found: Option<Json<AgentRecord>> =
            sqlx::query_scalar("SELECT record FROM agents WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| error::repository("read an agent", e))?;
        found
            .map(|Json(a)| a)
            .ok_or_else(|| RepositoryError::not_found("agent", id))
    }

    async fn update(&self, agent: &AgentRecord) -> Result<(), RepositoryError> {
        let updated = sqlx::query("UPDATE agents SET instance_id = $2, record = $3 WHERE id = $1")
            .bind(agent.id.as_str())
            .bind(agent.instance.as_uuid())
            .bind(Json(agent))
            .execute(&self.pool)
            .await
            .map_err(|e| error::repository("update an agent", e))?;
        if updated.rows_affected() == 0 {
            return Err(RepositoryError::not_found("agent", &agent.id));
        }
        Ok(())
    }

    async fn list(
        &self,
        instance: Option<InstanceId>,
    ) -> Result<Vec<AgentRecord>, RepositoryError> {
        let query = match instance {
            Some(instance) => {
                sqlx::query_scalar("SELECT record FROM agents WHERE instance_id = $1 ORDER BY id")
                    .bind(*instance.as_uuid())
            }
            None => sqlx::query_scalar("SELECT record FROM agents ORDER BY id"),
        };
        let found: Vec<Json<AgentRecord>> = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| error::repository("list agents", e))?;
        Ok(found.into_iter().map(|Json(a)| a).collect())
    }

    async fn remove(&self, id: &AgentId) -> Result<AgentRecord, RepositoryError> {
        let removed: Option<Json<AgentRecord>> =
            sqlx::query_scalar("DELETE FROM agents WHERE id = $1 RETURNING record")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| error::repository("remove an agent", e))?;
        removed
            .map(|Json(a)| a)
            .ok_or_else(|| RepositoryError::not_found("agent", id))
    }
}
