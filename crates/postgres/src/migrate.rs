//! Connecting and migrating: the migrations of `migrations/postgres`, embedded in the binary.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, migrate::Migrator};

/// Every migration of `migrations/postgres`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// A pool of at most `max_connections` to the database at `url` (`postgres://…`).
///
/// # Errors
/// The driver's error when the URL is malformed or the server cannot be reached within 5 s.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
}

/// Applies every migration not yet applied (idempotent; safe to run at every start).
///
/// # Errors
/// The migrator's error when a migration fails or an applied one was changed.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
