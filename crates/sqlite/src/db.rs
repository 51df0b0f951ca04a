//! Opening the database file: WAL journal, foreign keys on, a busy timeout, every migration of
//! `migrations/sqlite` applied.

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Every migration of `migrations/sqlite`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Opens (creating if needed) the database at `path` with a pool of `max_connections`, and
/// applies every pending migration.
///
/// WAL lets readers run beside the one writer; `synchronous = FULL` makes each commit durable
/// before it returns (group commit keeps that cheap); writers wait up to 5 s for each other.
///
/// # Errors
/// The driver's error when the file cannot be opened or a migration fails.
pub async fn open(path: &Path, max_connections: u32) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// The version of the SQLite library behind `pool` (the bundled one), e.g. `3.50.2`.
///
/// # Errors
/// The driver's error when the query fails.
pub async fn sqlite_version(pool: &SqlitePool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(pool)
        .await
}

/// A private in-memory database (one connection, so every query sees the same data), migrated.
/// For tests and throw-away embedding; nothing is kept.
///
/// # Errors
/// The driver's error when a migration fails.
pub async fn open_in_memory() -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}
