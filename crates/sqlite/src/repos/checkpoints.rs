//! [`SqliteCheckpointStore`]: session checkpoints in `checkpoints`.

use async_trait::async_trait;
use godel_lifecycle::{Checkpoint, CheckpointStore, RepositoryError};
use godel_types::{CheckpointId, SessionId, TenantId};
use sqlx::SqlitePool;

use super::codec::{from_json, sql_limit, to_json, unix_nanos};
use super::error::{corrupt, insert_failed, unavailable, unencodable};

/// A [`CheckpointStore`] on SQLite; clones share the pool.
///
/// "Newest" means the latest `created_at`, ties broken by id (ids are time-ordered). A name is
/// unique within a session by a partial unique index, which unnamed checkpoints stay out of.
#[derive(Debug, Clone)]
pub struct SqliteCheckpointStore {
    pool: SqlitePool,
}

impl SqliteCheckpointStore {
    /// A store on `pool` (opened by [`crate::db::open`], so its schema is migrated).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

/// Decodes `record` columns.
fn decode_all(records: &[String]) -> Result<Vec<Checkpoint>, RepositoryError> {
    records
        .iter()
        .map(|r| from_json(r).map_err(|e| corrupt("checkpoint", e)))
        .collect()
}

#[async_trait]
impl CheckpointStore for SqliteCheckpointStore {
    async fn save(&self, checkpoint: Checkpoint) -> Result<(), RepositoryError> {
        let record = to_json(&checkpoint).map_err(|e| unencodable("checkpoint", e))?;
        // A taken id and a taken name both violate a unique index: `AlreadyExists` either way.
        sqlx::query(
            "INSERT INTO checkpoints (id, tenant_id, session_id, name, state, created_at, record)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(checkpoint.id.to_string())
        .bind(checkpoint.tenant.as_str())
        .bind(checkpoint.session.to_string())
        .bind(checkpoint.name.as_deref())
        .bind(checkpoint.state.as_str())
        .bind(unix_nanos(checkpoint.created_at))
        .bind(record)
        .execute(&self.pool)
        .await
        .map_err(|e| insert_failed("checkpoint", checkpoint.id, e))?;
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: CheckpointId,
    ) -> Result<Checkpoint, RepositoryError> {
        let record: Option<String> =
            sqlx::query_scalar("SELECT record FROM checkpoints WHERE id = ? AND tenant_id = ?")
                .bind(id.to_string())
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| unavailable("reading a checkpoint", e))?;
        let record = record.ok_or_else(|| RepositoryError::not_found("checkpoint", id))?;
        from_json(&record).map_err(|e| corrupt("checkpoint", e))
    }

    async fn latest(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> Result<Option<Checkpoint>, RepositoryError> {
        let record: Option<String> = sqlx::query_scalar(
            "SELECT record FROM checkpoints WHERE tenant_id = ? AND session_id = ?
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(session.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| unavailable("reading the latest checkpoint", e))?;
        record
            .map(|r| from_json(&r).map_err(|e| corrupt("checkpoint", e)))
            .transpose()
    }

    async fn list(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> Result<Vec<Checkpoint>, RepositoryError> {
        let records: Vec<String> = sqlx::query_scalar(
            "SELECT record FROM checkpoints WHERE tenant_id = ? AND session_id = ?
             ORDER BY created_at, id",
        )
        .bind(tenant.as_str())
        .bind(session.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| unavailable("listing checkpoints", e))?;
        decode_all(&records)
    }

    async fn prune(
        &self,
        tenant: &TenantId,
        session: SessionId,
        keep: usize,
    ) -> Result<u64, RepositoryError> {
        // One statement: the newest `keep` unnamed checkpoints are skipped, the rest deleted
        // (`LIMIT -1` is no limit).
        let done = sqlx::query(
            "DELETE FROM checkpoints WHERE id IN (
                 SELECT id FROM checkpoints
                 WHERE tenant_id = ? AND session_id = ? AND name IS NULL
                 ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?)",
        )
        .bind(tenant.as_str())
        .bind(session.to_string())
        .bind(sql_limit(keep))
        .execute(&self.pool)
        .await
        .map_err(|e| unavailable("pruning checkpoints", e))?;
        Ok(done.rows_affected())
    }
}
