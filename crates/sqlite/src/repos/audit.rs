//! [`SqliteAuditLog`]: the security audit log in `audit_log`, append-only.

use async_trait::async_trait;
use godel_engine::access::{AuditEntry, AuditLog};
use godel_lifecycle::RepositoryError;
use godel_types::{AuditId, TenantId};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use super::codec::{from_json, sql_limit, to_json, unix_nanos};
use super::error::{corrupt, unavailable, unencodable};

/// An [`AuditLog`] on SQLite; clones share the pool.
///
/// Each entry is one row: its JSON form plus the tenant it is filtered by. An id already
/// stored is skipped (`ON CONFLICT DO NOTHING`), so a retried batch does not duplicate; a
/// batch is one transaction.
#[derive(Debug, Clone)]
pub struct SqliteAuditLog {
    pool: SqlitePool,
}

impl SqliteAuditLog {
    /// A log on `pool` (opened by [`crate::db::open`], so its schema is migrated).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

/// Stores `entry` unless its id is stored already.
async fn insert(conn: &mut SqliteConnection, entry: &AuditEntry) -> Result<(), RepositoryError> {
    let record = to_json(entry).map_err(|e| unencodable("audit entry", e))?;
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, at, record) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(entry.id.to_string())
    .bind(entry.tenant.as_ref().map(TenantId::as_str))
    .bind(unix_nanos(entry.at))
    .bind(record)
    .execute(conn)
    .await
    .map_err(|e| unavailable("appending an audit entry", e))?;
    Ok(())
}

#[async_trait]
impl AuditLog for SqliteAuditLog {
    async fn append(&self, entries: &[AuditEntry]) -> Result<(), RepositoryError> {
        match entries {
            [] => Ok(()),
            [entry] => {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(|e| unavailable("acquiring a connection", e))?;
                insert(&mut conn, entry).await
            }
            batch => {
                let mut tx = self
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| unavailable("starting an audit transaction", e))?;
                for entry in batch {
                    insert(&mut tx, entry).await?;
                }
                tx.commit()
                    .await
                    .map_err(|e| unavailable("committing audit entries", e))
            }
        }
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
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT record FROM audit_log WHERE 1 = 1");
        if let Some(tenant) = tenant {
            sql.push(" AND tenant_id = ")
                .push_bind(tenant.as_str().to_owned());
        }
        if let Some(before) = before {
            sql.push(" AND id < ").push_bind(before.to_string());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(sql_limit(limit));
        let records: Vec<String> = sql
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| unavailable("listing audit entries", e))?;
        records
            .iter()
            .map(|r| from_json(r).map_err(|e| corrupt("audit entry", e)))
            .collect()
    }
}
