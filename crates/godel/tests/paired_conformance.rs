//! `PairedQueueStore` (Postgres truth, Redis index) passes the whole queue conformance suite:
//! every case on a fresh database and a key prefix of its own, with the index rebuilt before
//! the case starts. Without reachable servers the cases skip (fail under
//! `GODEL_TEST_LIVE=require`).

use std::sync::{Arc, Mutex, PoisonError};

use godel::store::{IndexHealth, PairedQueueStore};
use godel_postgres::queue::PgQueueStore;
use godel_postgres::testing::TestDatabase;
use godel_queue::conformance::{Guarded, StoreFactory};
use godel_queue::{ManualClock, QueueConfig};
use godel_redis::RedisQueueStore;
use godel_redis::testing::TestRedis;

/// Makes paired stores; the first database and Redis fixture are the ones that proved both
/// servers reachable.
struct PairedFactory {
    first: Mutex<Option<(TestDatabase, TestRedis)>>,
}

impl PairedFactory {
    /// A factory, or `None` when a server is unreachable and live tests may skip.
    async fn live() -> Option<Self> {
        let db = TestDatabase::create().await?;
        let redis = TestRedis::create().await?;
        Some(Self {
            first: Mutex::new(Some((db, redis))),
        })
    }
}

impl StoreFactory for PairedFactory {
    type Store = Guarded<PairedQueueStore>;

    async fn create(&self, config: QueueConfig, clock: ManualClock) -> Guarded<PairedQueueStore> {
        let first = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let (db, redis) = match first {
            Some(fixtures) => fixtures,
            None => (
                TestDatabase::create()
                    .await
                    .expect("postgres answered a moment ago"),
                TestRedis::create()
                    .await
                    .expect("redis answered a moment ago"),
            ),
        };
        let clock = Arc::new(clock);
        let pg = PgQueueStore::new(db.pool(16).await, config.clone(), clock.clone())
            .expect("valid test config");
        let index = RedisQueueStore::new(
            redis.pool().clone(),
            redis.prefix().to_owned(),
            config,
            clock,
        )
        .expect("valid test config");
        let store = PairedQueueStore::new(Arc::new(pg), Arc::new(index));
        store.reconcile().await.expect("build the index");
        assert_eq!(store.health(), IndexHealth::Indexed);
        let fixtures = Fixtures {
            store: store.clone(),
            _redis: redis,
            _db: db,
        };
        Guarded::new(store, fixtures)
    }
}

/// The fixtures of one case, dropped after its store, checking on the way out that the case
/// ran through the index.
struct Fixtures {
    store: PairedQueueStore,
    _redis: TestRedis,
    _db: TestDatabase,
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        // Every case must run through the index: a degraded store would only test Postgres.
        if !std::thread::panicking() {
            assert_eq!(
                self.store.health(),
                IndexHealth::Indexed,
                "the case degraded the paired store"
            );
        }
    }
}

// Each case first makes sure both servers are there; without them (and not required) it
// returns.
godel_queue::queue_conformance!(match PairedFactory::live().await {
    Some(factory) => factory,
    None => return,
});
