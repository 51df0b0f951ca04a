//! [`SqliteAgentRepository`]: the agent registry in `agents`.

use async_trait::async_trait;
use godel_lifecycle::{AgentRecord, AgentRepository, RepositoryError};
use godel_types::{AgentId, InstanceId};
use sqlx::SqlitePool;

use super::codec::{from_json, to_json, unix_nanos};
use super::error::{corrupt, insert_failed, unavailable, unencodable};

/// An [`AgentRepository`] on SQLite; clones share the pool.
#[derive(Debug, Clone)]
pub struct SqliteAgentRepository {
    pool: SqlitePool,
}

impl SqliteAgentRepository {
    /// A repository on `pool` (opened by [`crate::db::open`], so its schema is migrated).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

/// Decodes a `record` column.
fn decode(record: &str) -> Result<AgentRecord, RepositoryError> {
    from_json(record).map_err(|e| corrupt("agent", e))
}

/// The JSON record of an agent.
fn encode(agent: &AgentRecord) -> Result<String, RepositoryError> {
    to_json(agent).map_err(|e| unencodable("agent", e))
}

#[async_trait]
impl AgentRepository for SqliteAgentRepository {
    async fn insert(&self, agent: AgentRecord) -> Result<(), RepositoryError> {
        sqlx::query(
            "INSERT INTO agents (id, instance_id, status, registered_at, updated_at, record)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(agent.id.as_str())
        .bind(agent.instance.to_string())
        .bind(agent.status.as_str())
        .bind(unix_nanos(agent.registered_at))
        .bind(unix_nanos(agent.updated_at))
        .bind(encode(&agent)?)
        .execute(&self.pool)
        .await
        .map_err(|e| insert_failed("agent", &agent.id, e))?;
        Ok(())
    }

    async fn get(&self, id: &AgentId) -> Result<AgentRecord, RepositoryError> {
        let record: Option<String> = sqlx::query_scalar("SELECT record FROM agents WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| unavailable("reading an agent", e))?;
        decode(&record.ok_or_else(|| RepositoryError::not_found("agent", id))?)
    }

    async fn update(&self, agent: &AgentRecord) -> Result<(), RepositoryError> {
        let done = sqlx::query(
            "UPDATE agents
             SET instance_id = ?, status = ?, registered_at = ?, updated_at = ?, record = ?
             WHERE id = ?",
        )
        .bind(agent.instance.to_string())
        .bind(agent.status.as_str())
        .bind(unix_nanos(agent.registered_at))
        .bind(unix_nanos(agent.updated_at))
        .bind(encode(agent)?)
        .bind(agent.id.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| unavailable("updating an agent", e))?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(RepositoryError::not_found("agent", &agent.id))
        }
    }

    async fn list(
        &self,
        instance: Option<InstanceId>,
    ) -> Result<Vec<AgentRecord>, RepositoryError> {
        let records: Vec<String> = match instance {
            None => {
                sqlx::query_scalar("SELECT record FROM agents ORDER BY id")
                    .fetch_all(&self.pool)
                    .await
            }
            Some(instance) => {
                sqlx::query_scalar("SELECT record FROM agents WHERE instance_id = ? ORDER BY id")
                    .bind(instance.to_string())
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(|e| unavailable("listing agents", e))?;
        records.iter().map(|r| decode(r)).collect()
    }

    async fn remove(&self, id: &AgentId) -> Result<AgentRecord, RepositoryError> {
        let record: Option<String> =
            sqlx::query_scalar("DELETE FROM agents WHERE id = ? RETURNING record")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| unavailable("removing an agent", e))?;
        decode(&record.ok_or_else(|| RepositoryError::not_found("agent", id))?)
    }
}
