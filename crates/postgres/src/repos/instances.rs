//! [`PgInstanceStore`]: the fleet-wide instance registry in `openclaw_instances` (no tenant, no
//! row-level security). The unique `endpoint_key` column keeps endpoints unique as
//! [`endpoint_key`] compares them.
//!
//! The token is kept in its own column: the JSONB `record` is the instance's serde form, which
//! never holds the token, and nothing here logs an instance.

use async_trait::async_trait;
use godel_federation::{FederationError, Instance, InstanceStore, endpoint_key};
use godel_types::InstanceId;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::error::{self, Class};

/// An [`InstanceStore`] on Postgres.
#[derive(Debug, Clone)]
pub struct PgInstanceStore {
    pool: PgPool,
}

/// A stored instance: its record (without the token) and its token.
type InstanceRow = (Json<Instance>, Option<String>);

fn from_row((Json(mut instance), token): InstanceRow) -> Instance {
    instance.token = token;
    instance
}

impl PgInstanceStore {
    /// A store over `pool` (a database migrated with [`crate::migrate()`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The instance other than `instance` registered at its endpoint, if any.
    async fn endpoint_owner(&self, instance: &Instance) -> Result<Option<Uuid>, sqlx::Error> {
        sqlx::query_scalar("SELECT id FROM openclaw_instances WHERE endpoint_key = $1 AND id <> $2")
            .bind(instance.endpoint_key())
            .bind(instance.id.as_uuid())
            .fetch_optional(&self.pool)
            .await
    }

    /// What `err`, met while writing `instance`, means. A unique violation is its id being
    /// registered already (looked up when `new_id`) or its endpoint being another instance's;
    /// when neither holds any more (a concurrent deregistration), and for any other error, the
    /// driver's error, which may be retried.
    async fn explain(
        &self,
        what: &str,
        instance: Instance,
        new_id: bool,
        err: sqlx::Error,
    ) -> FederationError {
        if error::classify(&err) != Class::UniqueViolation {
            return error::federation(what, err);
        }
        if new_id {
            match self.id_taken(instance.id).await {
                Ok(true) => return FederationError::AlreadyExists(instance.id),
                Ok(false) => {}
                Err(lookup) => return error::federation(what, lookup),
            }
        }
        match self.endpoint_owner(&instance).await {
            Ok(Some(by)) => FederationError::EndpointTaken {
                endpoint: instance.endpoint,
                by: InstanceId::from_uuid(by),
            },
            Ok(None) => error::federation(what, err),
            Err(lookup) => error::federation(what, lookup),
        }
    }

    /// Whether an instance with this id is registered.
    async fn id_taken(&self, id: InstanceId) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM openclaw_instances WHERE id = $1)")
            .bind(id.as_uuid())
            .fetch_one(&self.pool)
            .await
    }
}

#[async_trait]
impl InstanceStore for PgInstanceStore {
    async fn register(&self, instance: Instance) -> Result<(), FederationError> {
        let what = "register an instance";
        let inserted = sqlx::query(
            "INSERT INTO openclaw_instances (id, endpoint_key, registered_at, token, record) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(instance.id.as_uuid())
        .bind(endpoint_key(&instance.endpoint))
        .bind(instance.registered_at)
        .bind(instance.token.as_deref())
        .bind(Json(&instance))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(err) => Err(self.explain(what, instance, true, err).await),
        }
    }

    async fn get(&self, id: InstanceId) -> Result<Instance, FederationError> {
        let found: Option<InstanceRow> =
            sqlx::query_as("SELECT record, token FROM openclaw_instances WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| error::federation("read an instance", e))?;
        found.map(from_row).ok_or(FederationError::NotFound(id))
    }

    async fn list(&self) -> Result<Vec<Instance>, FederationError> {
        let found: Vec<InstanceRow> = sqlx::query_as(
            "SELECT record, token FROM openclaw_instances ORDER BY registered_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| error::federation("list instances", e))?;
        Ok(found.into_iter().map(from_row).collect())
    }

    async fn update(&self, instance: Instance) -> Result<(), FederationError> {
        let what = "update an instance";
        let updated = sqlx::query(
            "UPDATE openclaw_instances \
             SET endpoint_key = $2, registered_at = $3, token = $4, record = $5 WHERE id = $1",
        )
        .bind(instance.id.as_uuid())
        .bind(endpoint_key(&instance.endpoint))
        .bind(instance.registered_at)
        .bind(instance.token.as_deref())
        .bind(Json(&instance))
        .execute(&self.pool)
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 0 => Err(FederationError::NotFound(instance.id)),
            Ok(_) => Ok(()),
            Err(err) => Err(self.explain(what, instance, false, err).await),
        }
    }

    async fn deregister(&self, id: InstanceId) -> Result<Instance, FederationError> {
        let removed: Option<InstanceRow> =
            sqlx::query_as("DELETE FROM openclaw_instances WHERE id = $1 RETURNING record, token")
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| error::federation("deregister an instance", e))?;
        removed.map(from_row).ok_or(FederationError::NotFound(id))
    }
}
