//! The Postgres repositories: every repository port of `godel-lifecycle`, the `InstanceStore`
//! of `godel-federation` and the access ports of `godel-engine` (`ApiKeyStore`, `AuditLog`),
//! over the tables of `migrations/postgres/0001_core.sql` and `0004_audit.sql`.
//!
//! Each takes a [`PgPool`] in `new`. Records are kept as typed columns for what queries filter
//! or sort on, plus a JSONB `record` column with the whole record (serde) where one exists.
//!
//! Tenant-scoped methods run in a transaction begun with [`begin_for_tenant`], which sets
//! `app.current_tenant` for the row-level security policies, and also filter by `tenant_id`
//! themselves: the owning service role bypasses row-level security, any other role is confined
//! by it. Fleet-wide calls (a session, event or audit listing without a tenant, removing task
//! details by id) need the owning role. Authenticating an API key (lookup by hash, recording
//! its use) precedes any tenant: it goes through SECURITY DEFINER functions (see
//! [`PgApiKeyStore`]).
//!
//! Driver errors become port errors in [`crate::error`] only; a unique violation on insert is
//! the port's `AlreadyExists`.

mod agents;
mod api_keys;
mod audit;
mod checkpoints;
mod events;
mod instances;
mod sessions;
mod tasks;

use godel_lifecycle::RepositoryError;
use godel_types::TenantId;
use sqlx::{PgPool, Postgres, Transaction};

pub use self::agents::PgAgentRepository;
pub use self::api_keys::PgApiKeyStore;
pub use self::audit::PgAuditLog;
pub use self::checkpoints::PgCheckpointStore;
pub use self::events::PgEventLog;
pub use self::instances::PgInstanceStore;
pub use self::sessions::PgSessionRepository;
pub use self::tasks::PgTaskRepository;
use crate::error::{self, Class};

/// Begins a transaction scoped to `tenant`: `app.current_tenant` is set for the transaction
/// only (`set_config(.., true)`), so the row-level security policies confine a non-owner role
/// to this tenant's rows until commit or rollback.
///
/// # Errors
/// The driver's error when no connection can be had or the statements fail.
pub async fn begin_for_tenant(
    pool: &PgPool,
    tenant: &TenantId,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The `record` of one tenant-scoped row, read under that tenant (row-level security applies):
/// `sql` selects `record` by `$1` (the id) and `$2` (the tenant); none is `NotFound` of `entity`.
async fn read_tenant_record<T>(
    pool: &PgPool,
    sql: &'static str,
    entity: &'static str,
    tenant: &TenantId,
    id: uuid::Uuid,
) -> Result<T, RepositoryError>
where
    T: serde::de::DeserializeOwned + Send + Unpin + 'static,
{
    let fail = |e| error::repository(&format!("read a {entity}"), e);
    let mut tx = begin_for_tenant(pool, tenant).await.map_err(fail)?;
    let found: Option<sqlx::types::Json<T>> = sqlx::query_scalar(sql)
        .bind(id)
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    found
        .map(|sqlx::types::Json(record)| record)
        .ok_or_else(|| RepositoryError::not_found(entity, id))
}

/// A write's error: a unique violation is `AlreadyExists` of `entity` `id`, anything else goes
/// through [`error::repository`].
fn write_error(
    entity: &'static str,
    id: impl ToString,
    what: &str,
    err: sqlx::Error,
) -> RepositoryError {
    match error::classify(&err) {
        Class::UniqueViolation => RepositoryError::already_exists(entity, id),
        _ => error::repository(what, err),
    }
}

/// A stored value that does not decode into its domain type (a row written by something else,
/// or by an incompatible version), as the driver's decode error.
fn decode_error(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> sqlx::Error {
    sqlx::Error::Decode(err.into())
}

/// `n` as a SQL `BIGINT`, saturating (a limit or count beyond `i64::MAX` means "all").
fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `SELECT` whose `WHERE` clause is built one condition at a time, numbering the parameters
/// `$1, $2, ...` in the order conditions are added: the caller binds the values in that same
/// order. Only fixed SQL fragments go into it; every value is a bound parameter.
struct Select {
    sql: String,
    params: usize,
}

impl Select {
    /// `head` followed by `WHERE true`, ready for `AND` conditions.
    fn new(head: &str) -> Self {
        Self {
            sql: format!("{head} WHERE true"),
            params: 0,
        }
    }

    /// Adds ` AND <condition>`, its one `$` becoming the next parameter `$n`, e.g.
    /// `filter("tenant_id = $")` or `filter("state = ANY($)")`.
    fn filter(&mut self, condition: &str) {
        let (before, after) = condition.split_once('$').unwrap_or((condition, ""));
        self.sql.push_str(" AND ");
        self.sql.push_str(before);
        self.placeholder();
        self.sql.push_str(after);
    }

    /// Adds ` AND <condition>` with no parameter.
    fn constant(&mut self, condition: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
    }

    /// Ends with `<tail>$n` (e.g. ` ORDER BY id LIMIT `) and returns the SQL.
    fn finish(mut self, tail: &str) -> String {
        self.sql.push_str(tail);
        self.placeholder();
        self.sql
    }

    /// Appends the next parameter, `$n`.
    fn placeholder(&mut self) {
        self.params += 1;
        self.sql.push('$');
        self.sql.push_str(&self.params.to_string());
    }
}
