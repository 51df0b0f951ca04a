//! The store factory: `--store` picks a [`QueueStore`] implementation, and the workload sees
//! only the port. Stores that do not exist yet say so instead of producing a result.
//!
//! Stores with background work of their own (the SQLite store's group-commit writer) get a
//! small runtime of their own, threads named [`STORE_THREAD`], kept alive with the store.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use godel_queue::{MemoryQueueStore, QueueConfig, QueueStore, SystemClock};
use tokio::runtime::Runtime;

use crate::params::Params;

/// The stores `godel-bench` knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// `MemoryQueueStore`: in process, not durable; the ceiling the others are measured against.
    Memory,
    /// `SqliteQueueStore`: in process, durable in a SQLite file (WAL, group commit).
    Sqlite,
    /// `PgQueueStore`: a Postgres server (`PG_ADMIN_URL`), in a database of its own.
    Postgres,
    /// `RedisQueueStore`: a Redis server (`REDIS_URL`), under a key prefix of its own.
    Redis,
    /// `PairedQueueStore`: Postgres holds the truth, Redis the index (both of the above).
    #[value(name = "postgres-redis")]
    Paired,
}

impl StoreKind {
    /// The name used on the command line and as the report's `backend`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
            Self::Paired => "postgres-redis",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store ready for the workload, with what the report says about it.
pub struct OpenedStore {
    /// The store, behind the port.
    pub store: Arc<dyn QueueStore>,
    /// Which kind it is.
    pub kind: StoreKind,
    /// The report's `backend_version`, e.g. `godel-queue 0.1.0 (in-process)`.
    pub backend_version: String,
    /// Whether the store runs inside this process (then there is no server process to measure:
    /// the store's work runs on the threads that call it).
    pub in_process: bool,
    /// What must outlive the store: its runtime, its temporary folder.
    keep: Keep,
}

/// Name of the threads of an in-process store's own runtime.
pub const STORE_THREAD: &str = "godel-store";

/// Resources an opened store holds until it is dropped (the store goes first).
#[derive(Default)]
struct Keep {
    runtime: Option<Runtime>,
    folder: Option<PathBuf>,
    /// A database created for the run: (admin URL, name), dropped afterwards.
    database: Option<(String, String)>,
    /// A Redis store whose keys are deleted afterwards.
    redis: Option<Arc<godel_redis::RedisQueueStore>>,
}

impl Keep {
    fn holding(runtime: Runtime) -> Self {
        let mut keep = Self::default();
        keep.runtime = Some(runtime);
        keep
    }
}

impl Drop for Keep {
    fn drop(&mut self) {
        if let Some(folder) = self.folder.take() {
            std::fs::remove_dir_all(folder).ok();
        }
        if let (Some(runtime), Some(redis)) = (&self.runtime, self.redis.take())
            && let Err(error) = runtime.block_on(redis.clear())
        {
            eprintln!("could not delete the benchmark's Redis keys: {error}");
        }
        if let (Some(runtime), Some((admin, name))) = (&self.runtime, self.database.take())
            && let Err(error) =
                runtime.block_on(godel_postgres::admin::drop_database(&admin, &name))
        {
            eprintln!("could not drop the benchmark database {name}: {error}");
        }
    }
}

/// The Redis server used when `REDIS_URL` is not set.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The Postgres server used when `PG_ADMIN_URL` is not set.
pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl fmt::Debug for OpenedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedStore")
            .field("kind", &self.kind)
            .field("backend_version", &self.backend_version)
            .field("in_process", &self.in_process)
            .field("folder", &self.keep.folder)
            .finish_non_exhaustive()
    }
}

/// Opens the store of `kind`, fresh and empty.
///
/// # Errors
/// When the store cannot be opened (its server unreachable, its file not writable).
pub fn open(kind: StoreKind, params: &Params) -> Result<OpenedStore> {
    match kind {
        StoreKind::Memory => Ok(OpenedStore {
            store: Arc::new(MemoryQueueStore::new()),
            kind,
            backend_version: format!("godel-queue {} (in-process)", queue_version()),
            in_process: true,
            keep: Keep::default(),
        }),
        StoreKind::Sqlite => open_sqlite(),
        StoreKind::Postgres => open_postgres(params),
        StoreKind::Redis => open_redis(params),
        StoreKind::Paired => open_paired(params),
    }
}

/// A SQLite store in a fresh temporary folder, removed afterwards.
fn open_sqlite() -> Result<OpenedStore> {
    let runtime = store_runtime()?;
    let folder = std::env::temp_dir().join(format!("godel-bench-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&folder).with_context(|| format!("create {}", folder.display()))?;
    // Removes the folder again if opening fails below.
    let mut keep = Keep::default();
    keep.folder = Some(folder.clone());
    let (store, version) = runtime.block_on(async {
        let pool = godel_sqlite::open(&folder.join("godel.db"), 4)
            .await
            .context("open the SQLite database")?;
        let version = godel_sqlite::db::sqlite_version(&pool)
            .await
            .context("read the SQLite version")?;
        let lock = folder.join("godel.db.queue-lock");
        let store = godel_sqlite::SqliteQueueStore::open(
            pool,
            Some(&lock),
            QueueConfig::default(),
            Arc::new(SystemClock),
        )
        .await
        .context("open the SQLite queue")?;
        anyhow::Ok((store, version))
    })?;
    keep.runtime = Some(runtime);
    Ok(OpenedStore {
        store: Arc::new(store),
        kind: StoreKind::Sqlite,
        backend_version: format!(
            "godel-sqlite {} (in-process, SQLite {}, WAL, synchronous=FULL)",
            queue_version(),
            version
        ),
        in_process: true,
        keep,
    })
}

/// Connections of the Postgres store's pool: most of the default 50 workers hold one at a time,
/// and the server's default limit of 100 connections leaves room for other clients.
const POOL: u32 = 40;

/// A Postgres store in a database of its own (`godel_bench_<pid>`), dropped afterwards.
fn open_postgres(params: &Params) -> Result<OpenedStore> {
    let mut keep = Keep::holding(store_runtime()?);
    let (store, version) = postgres_store(params, &mut keep)?;
    Ok(OpenedStore {
        store: Arc::new(store),
        kind: StoreKind::Postgres,
        backend_version: format!(
            "godel-postgres {} (PostgreSQL {version}, pool of {POOL}, group commit)",
            queue_version()
        ),
        in_process: false,
        keep,
    })
}

/// A Redis store under its own key prefix (`godel_bench_<pid>`), whose keys are deleted
/// afterwards.
fn open_redis(params: &Params) -> Result<OpenedStore> {
    let mut keep = Keep::holding(store_runtime()?);
    let (store, url) = redis_store(params, &mut keep)?;
    Ok(OpenedStore {
        store,
        kind: StoreKind::Redis,
        backend_version: format!(
            "godel-redis {} (Redis at {url}, Lua scripts)",
            queue_version()
        ),
        in_process: false,
        keep,
    })
}

/// The production pairing: Postgres holds the truth, Redis the index (`PairedQueueStore`),
/// with the index built before the run.
fn open_paired(params: &Params) -> Result<OpenedStore> {
    let mut keep = Keep::holding(store_runtime()?);
    let (pg, version) = postgres_store(params, &mut keep)?;
    let (_, url) = redis_store(params, &mut keep)?;
    let redis = Arc::clone(keep.redis.as_ref().context("the Redis store is kept")?);
    let runtime = keep.runtime.as_ref().context("the store runtime is kept")?;
    let store = runtime.block_on(async {
        let store = godel::store::PairedQueueStore::new(Arc::new(pg), redis);
        store.reconcile().await.context("build the Redis index")?;
        anyhow::Ok(store)
    })?;
    Ok(OpenedStore {
        store: Arc::new(store),
        kind: StoreKind::Paired,
        backend_version: format!(
            "godel {} PairedQueueStore (PostgreSQL {version} truth, pool of {POOL}; Redis at \
             {url} index)",
            queue_version()
        ),
        in_process: false,
        keep,
    })
}

/// Creates the run's database and a `PgQueueStore` on it; `keep` drops the database afterwards.
fn postgres_store(
    params: &Params,
    keep: &mut Keep,
) -> Result<(godel_postgres::queue::PgQueueStore, String)> {
    let admin = params
        .pg_admin_url
        .clone()
        .unwrap_or_else(|| DEFAULT_PG_ADMIN_URL.to_owned());
    let name = format!("godel_bench_{}", std::process::id());
    let runtime = keep.runtime.as_ref().context("the store runtime is kept")?;
    runtime.block_on(async {
        let version = godel_postgres::admin::server_version(&admin)
            .await
            .with_context(|| format!("reach Postgres at {admin}"))?;
        godel_postgres::admin::drop_database(&admin, &name).await?;
        godel_postgres::admin::create_database(&admin, &name, None)
            .await
            .with_context(|| format!("create database {name}"))?;
        keep.database = Some((admin.clone(), name.clone()));
        let url = godel_postgres::admin::with_database(&admin, &name);
        let pool = godel_postgres::connect(&url, POOL).await?;
        godel_postgres::migrate(&pool).await?;
        let store = godel_postgres::queue::PgQueueStore::new(
            pool,
            QueueConfig::default(),
            Arc::new(SystemClock),
        )?;
        anyhow::Ok((store, version))
    })
}

/// A `RedisQueueStore` under the run's prefix, emptied first; `keep` deletes its keys afterwards.
fn redis_store(params: &Params, keep: &mut Keep) -> Result<(Arc<dyn QueueStore>, String)> {
    let url = params
        .redis_url
        .clone()
        .unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned());
    let prefix = format!("godel_bench_{}", std::process::id());
    let runtime = keep.runtime.as_ref().context("the store runtime is kept")?;
    let store = runtime.block_on(async {
        let store = godel_redis::RedisQueueStore::connect(
            &url,
            prefix,
            QueueConfig::default(),
            Arc::new(SystemClock),
        )?;
        store
            .ping()
            .await
            .with_context(|| format!("reach Redis at {url}"))?;
        store.clear().await?;
        anyhow::Ok(Arc::new(store))
    })?;
    keep.redis = Some(Arc::clone(&store));
    Ok((store, url))
}

fn store_runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(STORE_THREAD)
        .enable_all()
        .build()
        .context("build the store runtime")
}

/// The version of `godel-queue` linked in: the workspace version, which this package shares.
fn queue_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::from_lookup(|n| (n == "OUT").then(|| "/dev/null".to_owned())).unwrap()
    }

    #[test]
    fn memory_opens_in_process() {
        let opened = open(StoreKind::Memory, &params()).unwrap();
        assert!(opened.in_process);
        assert!(opened.backend_version.starts_with("godel-queue "));
        assert!(opened.backend_version.ends_with("(in-process)"));
    }

    #[test]
    fn sqlite_opens_in_a_temporary_folder_removed_afterwards() {
        let opened = open(StoreKind::Sqlite, &params()).unwrap();
        let folder = opened.keep.folder.clone().unwrap();
        assert!(folder.join("godel.db").exists());
        assert!(opened.backend_version.starts_with("godel-sqlite "));
        drop(opened);
        assert!(!folder.exists());
    }
}
