//! [`SqliteInstanceStore`]: the federation's instance registry in `openclaw_instances`.

use async_trait::async_trait;
use godel_federation::{FederationError, Instance, InstanceStore};
use godel_types::InstanceId;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::codec::{from_json, to_json, unix_nanos};
use super::error::{federation_corrupt, federation_unavailable, federation_unencodable};

/// An [`InstanceStore`] on SQLite; clones share the pool.
///
/// Endpoints are unique by their key ([`Instance::endpoint_key`]), kept in a unique column.
/// `register` and `update` check the id and the endpoint inside one `BEGIN IMMEDIATE`
/// transaction, so the error names the right cause and the instance holding the endpoint.
/// The token is stored beside the JSON record, which leaves it out.
#[derive(Debug, Clone)]
pub struct SqliteInstanceStore {
    pool: SqlitePool,
}

impl SqliteInstanceStore {
    /// A store on `pool` (opened by [`crate::db::open`], so its schema is migrated).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// A transaction holding the write lock from its start.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>, FederationError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| federation_unavailable("starting an instance transaction", e))
    }
}

/// A row: the JSON record and the token.
type Row = (String, Option<String>);

/// An instance from its row.
fn decode((record, token): Row) -> Result<Instance, FederationError> {
    let mut instance: Instance = from_json(&record).map_err(federation_corrupt)?;
    instance.token = token;
    Ok(instance)
}

/// Whether instance `id` is stored.
async fn exists(conn: &mut SqliteConnection, id: InstanceId) -> Result<bool, FederationError> {
    sqlx::query_scalar::<_, i64>("SELECT 1 FROM openclaw_instances WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .map(|found| found.is_some())
        .map_err(|e| federation_unavailable("reading an instance", e))
}

/// Refuses `instance` if another instance holds its endpoint key.
async fn check_endpoint(
    conn: &mut SqliteConnection,
    instance: &Instance,
) -> Result<(), FederationError> {
    let owner: Option<String> =
        sqlx::query_scalar("SELECT id FROM openclaw_instances WHERE endpoint_key = ? AND id <> ?")
            .bind(instance.endpoint_key())
            .bind(instance.id.to_string())
            .fetch_optional(conn)
            .await
            .map_err(|e| federation_unavailable("reading an endpoint's instance", e))?;
    match owner {
        None => Ok(()),
        Some(owner) => Err(FederationError::EndpointTaken {
            endpoint: instance.endpoint.clone(),
            by: InstanceId::parse(&owner).map_err(|e| {
                FederationError::unavailable("stored instance id does not decode", e)
            })?,
        }),
    }
}

#[async_trait]
impl InstanceStore for SqliteInstanceStore {
    async fn register(&self, instance: Instance) -> Result<(), FederationError> {
        let record = to_json(&instance).map_err(federation_unencodable)?;
        let mut tx = self.write().await?;
        if exists(&mut tx, instance.id).await? {
            return Err(FederationError::AlreadyExists(instance.id));
        }
        check_endpoint(&mut tx, &instance).await?;
        sqlx::query(
            "INSERT INTO openclaw_instances (id, endpoint, endpoint_key, region, zone, health,
                                             draining, registered_at, token, record)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(instance.id.to_string())
        .bind(&instance.endpoint)
        .bind(instance.endpoint_key())
        .bind(instance.region.as_deref())
        .bind(instance.zone.as_deref())
        .bind(instance.health.as_str())
        .bind(instance.draining)
        .bind(unix_nanos(instance.registered_at))
        .bind(instance.token.as_deref())
        .bind(record)
        .execute(&mut *tx)
        .await
        .map_err(|e| federation_unavailable("registering an instance", e))?;
        tx.commit()
            .await
            .map_err(|e| federation_unavailable("committing an instance", e))
    }

    async fn get(&self, id: InstanceId) -> Result<Instance, FederationError> {
        let row: Option<Row> =
            sqlx::query_as("SELECT record, token FROM openclaw_instances WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| federation_unavailable("reading an instance", e))?;
        decode(row.ok_or(FederationError::NotFound(id))?)
    }

    async fn list(&self) -> Result<Vec<Instance>, FederationError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT record, token FROM openclaw_instances ORDER BY registered_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| federation_unavailable("listing instances", e))?;
        rows.into_iter().map(decode).collect()
    }

    async fn update(&self, instance: Instance) -> Result<(), FederationError> {
        let record = to_json(&instance).map_err(federation_unencodable)?;
        let mut tx = self.write().await?;
        if !exists(&mut tx, instance.id).await? {
            return Err(FederationError::NotFound(instance.id));
        }
        check_endpoint(&mut tx, &instance).await?;
        sqlx::query(
            "UPDATE openclaw_instances
             SET endpoint = ?, endpoint_key = ?, region = ?, zone = ?, health = ?, draining = ?,
                 registered_at = ?, token = ?, record = ?
             WHERE id = ?",
        )
        .bind(&instance.endpoint)
        .bind(instance.endpoint_key())
        .bind(instance.region.as_deref())
        .bind(instance.zone.as_deref())
        .bind(instance.health.as_str())
        .bind(instance.draining)
        .bind(unix_nanos(instance.registered_at))
        .bind(instance.token.as_deref())
        .bind(record)
        .bind(instance.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| federation_unavailable("updating an instance", e))?;
        tx.commit()
            .await
            .map_err(|e| federation_unavailable("committing an instance", e))
    }

    async fn deregister(&self, id: InstanceId) -> Result<Instance, FederationError> {
        let row: Option<Row> =
            sqlx::query_as("DELETE FROM openclaw_instances WHERE id = ? RETURNING record, token")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| federation_unavailable("deregistering an instance", e))?;
        decode(row.ok_or(FederationError::NotFound(id))?)
    }
}
