//! [`PgAuditLog`]: the security audit log in `audit_log`, append-only and idempotent by id
//! (`ON CONFLICT (id) DO NOTHING`); listed newest first, in descending id order.

use async_trait::async_trait;
use godel_engine::access::{AuditEntry, AuditLog};
use godel_lifecycle::RepositoryError;
use godel_types::{AuditId, TenantId};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Select, begin_for_tenant, to_i64};
use crate::error;

/// An [`AuditLog`] on Postgres.
///
/// A batch may hold entries of several tenants and tenant-less ones (a refused credential), so
/// `append` is a fleet-wide duty (the owning role), as is the listing of every tenant; a
/// listing of one tenant runs under that tenant.
#[derive(Debug, Clone)]
pub struct PgAuditLog {
    pool: PgPool,
}

impl PgAuditLog {
    /// A log over `pool` (a database migrated with [`crate::migrate()`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl AuditLog for PgAuditLog {
    async fn append(&self, entries: &[AuditEntry]) -> Result<(), RepositoryError> {
        if entries.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = entries.iter().map(|e| *e.id.as_uuid()).collect();
        let tenants: Vec<Option<&str>> = entries
            .iter()
            .map(|e| e.tenant.as_ref().map(TenantId::as_str))
            .collect();
        let ats: Vec<OffsetDateTime> = entries.iter().map(|e| e.at).collect();
        let records: Vec<Json<&AuditEntry>> = entries.iter().map(Json).collect();
        // One statement: the batch is stored all or none; ids already stored (or repeated in
        // the batch) are skipped.
        sqlx::query(
            "INSERT INTO audit_log (id, tenant_id, at, record) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::jsonb[]) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&tenants)
        .bind(&ats)
        .bind(&records)
        .execute(&self.pool)
        .await
        .map_err(|e| error::repository("append audit entries", e))?;
        Ok(())
    }

    async fn list(
        &self,
        tenant: Option<&TenantId>,
        before: Option<AuditId>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, RepositoryError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut select = Select::new("SELECT record FROM audit_log");
        if tenant.is_some() {
            select.filter("tenant_id = $");
        }
        if before.is_some() {
            select.filter("id < $");
        }
        let sql = select.finish(" ORDER BY id DESC LIMIT ");

        let mut statement = sqlx::query_scalar::<_, Json<AuditEntry>>(AssertSqlSafe(sql));
        if let Some(tenant) = tenant {
            statement = statement.bind(tenant.as_str());
        }
        if let Some(before) = &before {
            statement = statement.bind(before.as_uuid());
        }
        statement = statement.bind(to_i64(limit));

        let fail = |e| error::repository("list audit entries", e);
        let found = match tenant {
            Some(tenant) => {
                let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
                let found = statement.fetch_all(&mut *tx).await.map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                found
            }
            None => statement.fetch_all(&self.pool).await.map_err(fail)?,
        };
        Ok(found.into_iter().map(|Json(e)| e).collect())
    }
}
