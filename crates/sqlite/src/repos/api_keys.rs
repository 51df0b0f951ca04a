//! [`SqliteApiKeyStore`]: service-account API keys in `api_keys` (only each key's SHA-256).

use async_trait::async_trait;
use godel_engine::access::{ApiKeyRecord, ApiKeyStore};
use godel_lifecycle::RepositoryError;
use godel_types::{ApiKeyId, Role, TenantId};
use sqlx::SqlitePool;
use time::OffsetDateTime;

use super::codec::{from_unix_nanos, unix_nanos};
use super::error::{corrupt, insert_failed, unavailable};

/// The columns a key is read from, in the order of [`Row`] (a macro, so statements stay
/// `&'static str` constants built with `concat!`).
macro_rules! columns {
    () => {
        "id, tenant_id, name, role, prefix, hash, created_at, last_used_at, revoked_at"
    };
}

/// A row of `api_keys`, as `columns!()` selects it.
type Row = (
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    i64,
    Option<i64>,
    Option<i64>,
);

/// An [`ApiKeyStore`] on SQLite; clones share the pool.
///
/// Keys are typed columns only (there is no JSON record): the hash is a unique 32-byte BLOB,
/// so a lookup by hash is one index probe. `api_keys` references `tenants`, so `insert` first
/// adds the tenant (named after its id) when it is not there, in the same `BEGIN IMMEDIATE`
/// transaction. `revoke` is one `UPDATE ... RETURNING` that keeps an earlier revocation time.
#[derive(Debug, Clone)]
pub struct SqliteApiKeyStore {
    pool: SqlitePool,
}

impl SqliteApiKeyStore {
    /// A store on `pool` (opened by [`crate::db::open`], so its schema is migrated).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

/// A key from its row.
fn decode(row: Row) -> Result<ApiKeyRecord, RepositoryError> {
    let (id, tenant, name, role, prefix, hash, created_at, last_used_at, revoked_at) = row;
    let time = |nanos: i64| {
        from_unix_nanos(nanos).ok_or_else(|| corrupt("api key", "a time out of range"))
    };
    let optional_time = |nanos: Option<i64>| nanos.map(time).transpose();
    Ok(ApiKeyRecord {
        id: ApiKeyId::parse(&id).map_err(|e| corrupt("api key", e))?,
        tenant: TenantId::parse(&tenant).map_err(|e| corrupt("api key", e))?,
        name,
        role: role.parse::<Role>().map_err(|e| corrupt("api key", e))?,
        prefix,
        hash: hash
            .try_into()
            .map_err(|_| corrupt("api key", "a hash that is not 32 bytes"))?,
        created_at: time(created_at)?,
        last_used_at: optional_time(last_used_at)?,
        revoked_at: optional_time(revoked_at)?,
    })
}

#[async_trait]
impl ApiKeyStore for SqliteApiKeyStore {
    async fn insert(&self, key: ApiKeyRecord) -> Result<(), RepositoryError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| unavailable("starting an api key transaction", e))?;
        let created = unix_nanos(key.created_at);
        sqlx::query(
            "INSERT OR IGNORE INTO tenants (id, display_name, created_at, updated_at)
             VALUES (?, ?, ?, ?)",
        )
        .bind(key.tenant.as_str())
        .bind(key.tenant.as_str())
        .bind(created)
        .bind(created)
        .execute(&mut *tx)
        .await
        .map_err(|e| unavailable("storing the tenant of an api key", e))?;
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, role, prefix, hash, created_at,
                                   last_used_at, revoked_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(key.id.to_string())
        .bind(key.tenant.as_str())
        .bind(&key.name)
        .bind(key.role.as_str())
        .bind(&key.prefix)
        .bind(key.hash.as_slice())
        .bind(created)
        .bind(key.last_used_at.map(unix_nanos))
        .bind(key.revoked_at.map(unix_nanos))
        .execute(&mut *tx)
        .await
        .map_err(|e| insert_failed("api key", key.id, e))?;
        tx.commit()
            .await
            .map_err(|e| unavailable("committing an api key", e))
    }

    async fn find_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, RepositoryError> {
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM api_keys WHERE hash = ?"
        ))
        .bind(hash.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| unavailable("reading an api key", e))?;
        row.map(decode).transpose()
    }

    async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKeyRecord>, RepositoryError> {
        let rows: Vec<Row> = match tenant {
            Some(tenant) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id"
                ))
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM api_keys ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(|e| unavailable("listing api keys", e))?;
        rows.into_iter().map(decode).collect()
    }

    async fn revoke(
        &self,
        tenant: &TenantId,
        id: ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<ApiKeyRecord, RepositoryError> {
        let row: Option<Row> = sqlx::query_as(concat!(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?)
             WHERE id = ? AND tenant_id = ? RETURNING ",
            columns!()
        ))
        .bind(unix_nanos(at))
        .bind(id.to_string())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| unavailable("revoking an api key", e))?;
        decode(row.ok_or_else(|| RepositoryError::not_found("api key", id))?)
    }

    async fn touch(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), RepositoryError> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
            .bind(unix_nanos(at))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| unavailable("recording the use of an api key", e))?;
        Ok(())
    }
}
