//! `PgQueueStore` passes the shared queue conformance suite: every case on a fresh, migrated
//! database of its own. Without a reachable server the cases skip (fail under
//! `GODEL_TEST_LIVE=require`).

use std::sync::{Arc, Mutex, PoisonError};

use godel_postgres::queue::PgQueueStore;
use godel_postgres::testing::TestDatabase;
use godel_queue::conformance::{Guarded, StoreFactory};
use godel_queue::{ManualClock, QueueConfig};

/// Makes each store on a database of its own; the first database is the one that proved the
/// server reachable.
struct PgFactory {
    first: Mutex<Option<TestDatabase>>,
}

impl PgFactory {
    /// A factory, or `None` when the server is unreachable and live tests may skip.
    async fn live() -> Option<Self> {
        let db = TestDatabase::create().await?;
        Some(Self {
            first: Mutex::new(Some(db)),
        })
    }
}

impl StoreFactory for PgFactory {
    type Store = Guarded<PgQueueStore>;

    async fn create(&self, config: QueueConfig, clock: ManualClock) -> Guarded<PgQueueStore> {
        let first = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let db = match first {
            Some(db) => db,
            None => TestDatabase::create()
                .await
                .expect("the server answered a moment ago"),
        };
        let pool = db.pool(16).await;
        let store = PgQueueStore::new(pool, config, Arc::new(clock)).expect("valid test config");
        Guarded::new(store, db)
    }
}

// Each case first makes sure the server is there; without it (and not required) it returns.
godel_queue::queue_conformance!(match PgFactory::live().await {
    Some(factory) => factory,
    None => return,
});
