//! What the conformance test files share: a factory of stores, each on a fresh database.
//!
//! When Postgres is unreachable and `GODEL_TEST_LIVE` is not `require`, every case returns at
//! once without failing: the factory expression given to each suite macro is evaluated inside
//! the generated test, before the case runs, and returns from the test when there is no server.

use std::sync::{Arc, Mutex, PoisonError};

use godel_postgres::testing::TestDatabase;
use sqlx::PgPool;

/// The databases of one case: each store the case creates gets a fresh one, and every
/// database lives (its store's pool with it) until the case is over.
pub(crate) struct Databases {
    /// Made before the case starts, proving the server is reachable; the first store's.
    first: Mutex<Option<TestDatabase>>,
    /// Those handed out, kept alive for the case.
    used: Mutex<Vec<TestDatabase>>,
}

impl Databases {
    /// `None` (the case skips) when Postgres is unreachable and live tests may skip.
    pub(crate) async fn reachable() -> Option<Arc<Self>> {
        let first = TestDatabase::create().await?;
        Some(Arc::new(Self {
            first: Mutex::new(Some(first)),
            used: Mutex::new(Vec::new()),
        }))
    }

    /// A pool to a fresh, migrated database.
    pub(crate) async fn fresh_pool(&self) -> PgPool {
        let ready = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let database = match ready {
            Some(database) => database,
            None => TestDatabase::create()
                .await
                .expect("postgres answered at the start of this case"),
        };
        let pool = database.pool(4).await;
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(database);
        pool
    }
}

/// A factory of stores `$make(pool)`, each on a fresh database; returns from the enclosing
/// test (skipping it) when Postgres is unreachable.
macro_rules! fresh {
    ($make:expr) => {{
        let Some(databases) = $crate::support::Databases::reachable().await else {
            return;
        };
        move || {
            let databases = ::std::sync::Arc::clone(&databases);
            async move { ($make)(databases.fresh_pool().await) }
        }
    }};
}

pub(crate) use fresh;
