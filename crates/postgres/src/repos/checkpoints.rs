//! [`PgCheckpointStore`]: session checkpoints in `checkpoints`. "Newest" is the latest
//! `created_at`, ties broken by id (ids are time-ordered); a name is unique within a session
//! (a partial unique index on named checkpoints).

use async_trait::async_trait;
use godel_lifecycle::{Checkpoint, CheckpointStore, RepositoryError};
use godel_types::{CheckpointId, SessionId, TenantId};
use sqlx::PgPool;
use sqlx::types::Json;

use super::{begin_for_tenant, read_tenant_record, to_i64, write_error};
use crate::error;

/// A [`CheckpointStore`] on Postgres.
#[derive(Debug, Clone)]
pub struct PgCheckpointStore {
    pool: PgPool,
}

impl PgCheckpointStore {
    /// A store over `pool` (a database migrated with [`crate::migrate()`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Runs `sql` (binding the tenant as `$1` and the session as `$2`) for the checkpoints it
    /// returns, in a transaction of the tenant.
    async fn of_session(
        &self,
        sql: &'static str,
        tenant: &TenantId,
        session: SessionId,
    ) -> Result<Vec<Checkpoint>, RepositoryError> {
        let fail = |e| error::repository("read checkpoints", e);
        let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
        let found: Vec<Json<Checkpoint>> = sqlx::query_scalar(sql)
            .bind(tenant.as_str())
            .bind(session.as_uuid())
            .fetch_all(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(found.into_iter().map(|Json(c)| c).collect())
    }
}

#[async_trait]
impl CheckpointStore for PgCheckpointStore {
    async fn save(&self, checkpoint: Checkpoint) -> Result<(), RepositoryError> {
        let what = "save a checkpoint";
        let mut tx = begin_for_tenant(&self.pool, &checkpoint.tenant)
            .await
            .map_err(|e| error::repository(what, e))?;
        sqlx::query(
            "INSERT INTO checkpoints (id, tenant_id, session_id, name, created_at, record) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(checkpoint.id.as_uuid())
        .bind(checkpoint.tenant.as_str())
        .bind(checkpoint.session.as_uuid())
        .bind(checkpoint.name.as_deref())
        .bind(checkpoint.created_at)
        .bind(Json(&checkpoint))
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error("checkpoint", checkpoint.id, what, e))?;
        tx.commit().await.map_err(|e| error::repository(what, e))
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: CheckpointId,
    ) -> Result<Checkpoint, RepositoryError> {
        read_tenant_record(
            &self.pool,
            "SELECT record FROM checkpoints WHERE id = $1 AND tenant_id = $2",
            "checkpoint",
            tenant,
            *id.as_uuid(),
        )
        .await
    }

    async fn latest(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> Result<Option<Checkpoint>, RepositoryError> {
        let newest = self
            .of_session(
                "SELECT record FROM checkpoints WHERE tenant_id = $1 AND session_id = $2 \
                 ORDER BY created_at DESC, id DESC LIMIT 1",
                tenant,
                session,
            )
            .await?;
        Ok(newest.into_iter().next())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> Result<Vec<Checkpoint>, RepositoryError> {
        self.of_session(
            "SELECT record FROM checkpoints WHERE tenant_id = $1 AND session_id = $2 \
             ORDER BY created_at, id",
            tenant,
            session,
        )
        .await
    }

    async fn prune(
        &self,
        tenant: &TenantId,
        session: SessionId,
        keep: usize,
    ) -> Result<u64, RepositoryError> {
        let fail = |e| error::repository("prune checkpoints", e);
        let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
        let pruned = sqlx::query(
            "DELETE FROM checkpoints WHERE id IN ( \
                 SELECT id FROM checkpoints \
                 WHERE tenant_id = $1 AND session_id = $2 AND name IS NULL \
                 ORDER BY created_at DESC, id DESC OFFSET $3)",
        )
        .bind(tenant.as_str())
        .bind(session.as_uuid())
        .bind(to_i64(keep))
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(pruned.rows_affected())
    }
}
