//! [`PgApiKeyStore`]: service-account API keys in `api_keys` (only each key's SHA-256), with
//! the authentication path (lookup by hash, recording a use) through the SECURITY DEFINER
//! functions of `migrations/postgres/0004_audit.sql`.

use async_trait::async_trait;
use godel_engine::access::{ApiKeyRecord, ApiKeyStore};
use godel_lifecycle::RepositoryError;
use godel_types::{ApiKeyId, Role, TenantId};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{begin_for_tenant, decode_error, write_error};
use crate::error;

/// The columns a key is read from, in the order of [`Row`] (a macro, so statements stay
/// `&'static str` constants built with `concat!`).
macro_rules! columns {
    () => {
        "id, tenant_id, name, role, prefix, hash, created_at, last_used_at, revoked_at"
    };
}

/// A row of `api_keys` (or of `api_key_by_hash`), as `columns!()` selects it.
type Row = (
    Uuid,
    String,
    String,
    String,
    String,
    Vec<u8>,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
);

/// An [`ApiKeyStore`] on Postgres.
///
/// `insert`, `list` of one tenant and `revoke` run in a transaction of the key's tenant (row
/// level security applies). `find_by_hash` and `touch` come before any tenant is known (they
/// authenticate a request), so they call `api_key_by_hash` and `api_key_touch`: SECURITY
/// DEFINER functions that work for the owning role and for any role granted EXECUTE, without
/// opening the table to tenantless reads. The listing of every tenant needs the owning role.
/// Times are stored as `TIMESTAMPTZ`, to the microsecond.
#[derive(Debug, Clone)]
pub struct PgApiKeyStore {
    pool: PgPool,
}

impl PgApiKeyStore {
    /// A store over `pool` (a database migrated with [`crate::migrate()`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A key from its row.
fn decode(row: Row) -> Result<ApiKeyRecord, sqlx::Error> {
    let (id, tenant, name, role, prefix, hash, created_at, last_used_at, revoked_at) = row;
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_uuid(id),
        tenant: TenantId::parse(&tenant).map_err(decode_error)?,
        name,
        role: role.parse::<Role>().map_err(decode_error)?,
        prefix,
        hash: hash
            .try_into()
            .map_err(|_| decode_error("an api key hash that is not 32 bytes"))?,
        created_at,
        last_used_at,
        revoked_at,
    })
}

#[async_trait]
impl ApiKeyStore for PgApiKeyStore {
    async fn insert(&self, key: ApiKeyRecord) -> Result<(), RepositoryError> {
        let what = "store an api key";
        let mut tx = begin_for_tenant(&self.pool, &key.tenant)
            .await
            .map_err(|e| error::repository(what, e))?;
        sqlx::query(concat!(
            "INSERT INTO api_keys (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(key.id.as_uuid())
        .bind(key.tenant.as_str())
        .bind(&key.name)
        .bind(key.role.as_str())
        .bind(&key.prefix)
        .bind(key.hash.as_slice())
        .bind(key.created_at)
        .bind(key.last_used_at)
        .bind(key.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error("api key", key.id, what, e))?;
        tx.commit().await.map_err(|e| error::repository(what, e))
    }

    async fn find_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, RepositoryError> {
        let fail = |e| error::repository("find an api key by hash", e);
        let row: Option<Row> =
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM api_key_by_hash($1)"))
                .bind(hash.as_slice())
                .fetch_optional(&self.pool)
                .await
                .map_err(fail)?;
        row.map(decode).transpose().map_err(fail)
    }

    async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKeyRecord>, RepositoryError> {
        let fail = |e| error::repository("list api keys", e);
        let rows: Vec<Row> = match tenant {
            Some(tenant) => {
                let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
                let rows = sqlx::query_as(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id"
                ))
                .bind(tenant.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                rows
            }
            None => sqlx::query_as(concat!(
                "SELECT ",
                columns!(),
                " FROM api_keys ORDER BY created_at, id"
            ))
            .fetch_all(&self.pool)
            .await
            .map_err(fail)?,
        };
        rows.into_iter()
            .map(decode)
            .collect::<Result<_, _>>()
            .map_err(fail)
    }

    async fn revoke(
        &self,
        tenant: &TenantId,
        id: ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<ApiKeyRecord, RepositoryError> {
        let fail = |e| error::repository("revoke an api key", e);
        let mut tx = begin_for_tenant(&self.pool, tenant).await.map_err(fail)?;
        let row: Option<Row> = sqlx::query_as(concat!(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3) \
             WHERE id = $1 AND tenant_id = $2 RETURNING ",
            columns!()
        ))
        .bind(id.as_uuid())
        .bind(tenant.as_str())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        let row = row.ok_or_else(|| RepositoryError::not_found("api key", id))?;
        decode(row).map_err(fail)
    }

    async fn touch(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), RepositoryError> {
        sqlx::query("SELECT api_key_touch($1, $2)")
            .bind(id.as_uuid())
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(|e| error::repository("record the use of an api key", e))?;
        Ok(())
    }
}
