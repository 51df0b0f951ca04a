//! Opening the stores the settings name: SQLite in the data directory by default; Postgres
//! (the truth) with Redis as its queue index, event fan-out, leader lease and shared rate
//! limits when configured; everything in memory for embedding.

use std::path::Path;
use std::sync::Arc;
#[cfg(feature = "redis")]
use std::time::Duration;

use godel_engine::access::{
    ApiKeyStore, AuditLog, MemoryApiKeyStore, MemoryAuditLog, MemoryRateLimiter, RateLimiter,
};
use godel_engine::{BroadcastBus, EventBus, LeaderLease, Stores};
use godel_http::HealthProbe;
#[cfg(feature = "postgres")]
use godel_postgres::queue::PgQueueStore;
#[cfg(feature = "postgres")]
use godel_postgres::repos::{
    PgAgentRepository, PgApiKeyStore, PgAuditLog, PgCheckpointStore, PgEventLog, PgInstanceStore,
    PgSessionRepository, PgTaskRepository,
};
use godel_queue::{Clock, QueueConfig};
#[cfg(feature = "redis")]
use godel_redis::{RedisEventBus, RedisLeaderLease, RedisQueueStore};
use godel_sqlite::SqliteQueueStore;
use godel_sqlite::repos::{
    SqliteAgentRepository, SqliteApiKeyStore, SqliteAuditLog, SqliteCheckpointStore,
    SqliteEventLog, SqliteInstanceStore, SqliteSessionRepository, SqliteTaskRepository,
};
use tokio::task::JoinHandle;

use super::ServerError;
use super::probes::DatabaseProbe;
#[cfg(feature = "redis")]
use super::probes::RedisProbe;
use crate::settings::Settings;
#[cfg(feature = "redis")]
use crate::store::PairedQueueStore;

/// Events each bus subscriber may lag by before it is told it lost some.
const BUS_CAPACITY: usize = 16_384;

/// How often the reconciler checks the Redis index: it notices a flushed or restarted Redis,
/// and one that is back after an outage, within this (a `GET` or a `PING` per pass).
#[cfg(feature = "redis")]
const RECONCILE_INTERVAL: Duration = Duration::from_secs(5);

/// What opening the stores produced.
pub(super) struct Opened {
    pub(super) stores: Stores,
    pub(super) api_keys: Arc<dyn ApiKeyStore>,
    pub(super) audit: Arc<dyn AuditLog>,
    pub(super) limiter: Arc<dyn RateLimiter>,
    pub(super) bus: Arc<dyn EventBus>,
    pub(super) leader: Option<Arc<dyn LeaderLease>>,
    pub(super) probes: Vec<Arc<dyn HealthProbe>>,
    pub(super) background: Vec<JoinHandle<()>>,
}

impl Opened {
    /// Everything in memory.
    pub(super) fn in_memory(
        queue: QueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ServerError> {
        let stores =
            Stores::in_memory(queue, clock).map_err(|e| ServerError::Store(e.to_string()))?;
        Ok(Self {
            stores,
            api_keys: Arc::new(MemoryApiKeyStore::default()),
            audit: Arc::new(MemoryAuditLog::default()),
            limiter: Arc::new(MemoryRateLimiter::default()),
            bus: Arc::new(BroadcastBus::new(BUS_CAPACITY)),
            leader: None,
            probes: Vec::new(),
            background: Vec::new(),
        })
    }
}

fn store_error(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Store(format!("{what}: {e}"))
}

/// Opens what `settings` name.
pub(super) async fn open(
    settings: &Settings,
    queue: QueueConfig,
    clock: Arc<dyn Clock>,
) -> Result<Opened, ServerError> {
    match &settings.database.url {
        None => open_sqlite(settings, queue, clock).await,
        Some(url) => open_postgres(settings, url.expose(), queue, clock).await,
    }
}

async fn open_sqlite(
    settings: &Settings,
    queue: QueueConfig,
    clock: Arc<dyn Clock>,
) -> Result<Opened, ServerError> {
    let dir = &settings.server.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| ServerError::Io {
        path: dir.clone(),
        source,
    })?;
    let path = dir.join("godel.db");
    let pool = godel_sqlite::open(&path, settings.database.pool_size.min(8))
        .await
        .map_err(|e| store_error(&format!("opening {}", path.display()), e))?;
    let lock = lock_path(&path);
    let queue = SqliteQueueStore::open(pool.clone(), Some(&lock), queue, clock)
        .await
        .map_err(|e| store_error("opening the queue", e))?;
    tracing::info!(path = %path.display(), "embedded SQLite store");
    let stores = Stores {
        queue: Arc::new(queue),
        tasks: Arc::new(SqliteTaskRepository::new(pool.clone())),
        sessions: Arc::new(SqliteSessionRepository::new(pool.clone())),
        agents: Arc::new(SqliteAgentRepository::new(pool.clone())),
        checkpoints: Arc::new(SqliteCheckpointStore::new(pool.clone())),
        events: Arc::new(SqliteEventLog::new(pool.clone())),
        instances: Arc::new(SqliteInstanceStore::new(pool.clone())),
    };
    let database: Arc<dyn HealthProbe> = Arc::new(DatabaseProbe(Arc::clone(&stores.instances)));
    Ok(Opened {
        stores,
        api_keys: Arc::new(SqliteApiKeyStore::new(pool.clone())),
        audit: Arc::new(SqliteAuditLog::new(pool.clone())),
        limiter: Arc::new(MemoryRateLimiter::default()),
        bus: Arc::new(BroadcastBus::new(BUS_CAPACITY)),
        leader: None,
        probes: vec![database],
        background: Vec::new(),
    })
}

fn lock_path(database: &Path) -> std::path::PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".queue-lock");
    name.into()
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(
    _settings: &Settings,
    _url: &str,
    _queue: QueueConfig,
    _clock: Arc<dyn Clock>,
) -> Result<Opened, ServerError> {
    Err(ServerError::Start(
        "database.url: this build has no Postgres support (enable the `postgres` feature of godel)"
            .into(),
    ))
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    settings: &Settings,
    url: &str,
    queue: QueueConfig,
    clock: Arc<dyn Clock>,
) -> Result<Opened, ServerError> {
    let redacted = settings
        .database
        .url
        .as_ref()
        .map(crate::settings::Secret::redacted_url)
        .unwrap_or_default();
    let pool = godel_postgres::connect(url, settings.database.pool_size)
        .await
        .map_err(|e| store_error(&format!("connecting to {redacted}"), e))?;
    if settings.database.migrate_on_start {
        godel_postgres::migrate(&pool)
            .await
            .map_err(|e| store_error("migrating Postgres", e))?;
    }
    let pg = Arc::new(
        PgQueueStore::new(pool.clone(), queue.clone(), Arc::clone(&clock))
            .map_err(|e| store_error("opening the Postgres queue", e))?,
    );
    let mut opened = Opened {
        stores: Stores {
            queue: pg.clone(),
            tasks: Arc::new(PgTaskRepository::new(pool.clone())),
            sessions: Arc::new(PgSessionRepository::new(pool.clone())),
            agents: Arc::new(PgAgentRepository::new(pool.clone())),
            checkpoints: Arc::new(PgCheckpointStore::new(pool.clone())),
            events: Arc::new(PgEventLog::new(pool.clone())),
            instances: Arc::new(PgInstanceStore::new(pool.clone())),
        },
        api_keys: Arc::new(PgApiKeyStore::new(pool.clone())),
        audit: Arc::new(PgAuditLog::new(pool.clone())),
        limiter: Arc::new(MemoryRateLimiter::default()),
        bus: Arc::new(BroadcastBus::new(BUS_CAPACITY)),
        leader: None,
        probes: Vec::new(),
        background: Vec::new(),
    };
    opened.probes.push(Arc::new(DatabaseProbe(Arc::clone(
        &opened.stores.instances,
    ))));
    tracing::info!(url = %redacted, "Postgres store");
    if let Some(redis_url) = &settings.redis.url {
        pair_with_redis(&mut opened, settings, redis_url, pg, queue, clock).await?;
    }
    Ok(opened)
}

#[cfg(all(feature = "postgres", not(feature = "redis")))]
async fn pair_with_redis(
    _opened: &mut Opened,
    _settings: &Settings,
    _redis_url: &crate::settings::Secret,
    _pg: Arc<PgQueueStore>,
    _queue: QueueConfig,
    _clock: Arc<dyn Clock>,
) -> Result<(), ServerError> {
    Err(ServerError::Start(
        "redis.url: this build has no Redis support (enable the `redis` feature of godel)".into(),
    ))
}

/// Puts Redis in front of the Postgres queue (the paired store), and uses it for events, the
/// leader lease and rate limits.
#[cfg(feature = "redis")]
async fn pair_with_redis(
    opened: &mut Opened,
    settings: &Settings,
    redis_url: &crate::settings::Secret,
    pg: Arc<PgQueueStore>,
    queue: QueueConfig,
    clock: Arc<dyn Clock>,
) -> Result<(), ServerError> {
    let prefix = &settings.redis.prefix;
    let index = Arc::new(
        RedisQueueStore::connect(redis_url.expose(), prefix.clone(), queue, clock)
            .map_err(|e| store_error("Redis", e))?,
    );
    let paired = Arc::new(PairedQueueStore::new(pg, Arc::clone(&index)));
    if let Err(e) = paired.reconcile().await {
        tracing::warn!(error = %e, "the Redis index could not be rebuilt at start; running on Postgres alone until it can");
    }
    opened
        .background
        .push(paired.spawn_reconciler(RECONCILE_INTERVAL));
    opened.stores.queue = paired.clone();
    opened.probes.push(Arc::new(RedisProbe {
        index: Arc::clone(&index),
        paired: Arc::clone(&paired),
    }));
    let pool = index.pool().clone();
    opened.limiter = Arc::new(godel_redis::RateLimiter::new(pool.clone(), prefix));
    opened.leader = Some(Arc::new(RedisLeaderLease::new(
        pool,
        prefix,
        &settings.server.replica,
    )));
    match RedisEventBus::connect(redis_url.expose(), prefix, BUS_CAPACITY).await {
        Ok(bus) => opened.bus = Arc::new(bus),
        Err(e) => {
            tracing::warn!(error = %e, "Redis event fan-out unavailable; events stay in this replica");
        }
    }
    tracing::info!(url = %redis_url.redacted_url(), prefix = %prefix, "Redis index");
    Ok(())
}

/// What `godel-server migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Where (a path, or a URL without its password).
    pub location: String,
}

/// Applies every pending migration of the configured store.
///
/// # Errors
/// [`ServerError::Store`] when the store cannot be reached or a migration fails.
pub async fn migrate(settings: &Settings) -> Result<MigrateReport, ServerError> {
    match &settings.database.url {
        None => {
            let dir = &settings.server.data_dir;
            std::fs::create_dir_all(dir).map_err(|source| ServerError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = dir.join("godel.db");
            // Opening applies the embedded migrations.
            let pool = godel_sqlite::open(&path, 1)
                .await
                .map_err(|e| store_error(&format!("migrating {}", path.display()), e))?;
            pool.close().await;
            Ok(MigrateReport {
                store: "sqlite",
                location: path.display().to_string(),
            })
        }
        #[cfg(not(feature = "postgres"))]
        Some(_) => Err(ServerError::Start(
            "database.url: this build has no Postgres support (enable the `postgres` feature of godel)"
                .into(),
        )),
        #[cfg(feature = "postgres")]
        Some(url) => {
            let pool = godel_postgres::connect(url.expose(), 1)
                .await
                .map_err(|e| store_error(&format!("connecting to {}", url.redacted_url()), e))?;
            godel_postgres::migrate(&pool)
                .await
                .map_err(|e| store_error("migrating Postgres", e))?;
            pool.close().await;
            Ok(MigrateReport {
                store: "postgres",
                location: url.redacted_url(),
            })
        }
    }
}
