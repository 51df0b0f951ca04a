//! [`LiveStores`]: a fresh, empty Postgres database and a Redis key prefix of its own, for a
//! server in Postgres + Redis mode (the server applies the migrations itself on start).
//!
//! The database is created as `godel_e2e_<pid>_<n>_<nanos>` over the admin URL
//! (`GODEL_TEST_PG_URL`, else `postgres://postgres@127.0.0.1:5432/postgres`) and dropped on
//! drop; Redis is `GODEL_TEST_REDIS_URL`, else `redis://127.0.0.1:6379`, and the prefix's keys
//! are deleted on drop. When either server is unreachable, the scenario is skipped with a
//! printed line, or fails under `GODEL_TEST_LIVE=require`, as every live test of the workspace.

use godel_postgres::admin::{create_database, drop_database, server_version, with_database};
use godel_postgres::testing::{DEFAULT_URL, URL_ENV};
use godel_redis::testing::TestRedis;

/// A Postgres database and a Redis prefix for one scenario.
#[derive(Debug)]
pub struct LiveStores {
    admin_url: String,
    name: String,
    database_url: String,
    redis: TestRedis,
}

impl LiveStores {
    /// Creates the database and picks the prefix; `None` when a server is unreachable and live
    /// scenarios may skip.
    ///
    /// # Panics
    /// When a server is unreachable under `GODEL_TEST_LIVE=require`, or when Postgres answers
    /// but refuses to create the database.
    pub async fn create() -> Option<Self> {
        let admin_url = std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned());
        if let Err(e) = server_version(&admin_url).await {
            return unavailable("postgres", &e);
        }
        let redis = TestRedis::create().await?;
        let name = unique_name("godel_e2e");
        create_database(&admin_url, &name, None)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let database_url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            database_url,
            redis,
        })
    }

    /// The database's URL (`GODEL_DATABASE_URL`).
    #[must_use]
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Redis' URL (`GODEL_REDIS_URL`).
    #[must_use]
    pub fn redis_url(&self) -> &str {
        self.redis.url()
    }

    /// The key prefix (`GODEL_REDIS_PREFIX`).
    #[must_use]
    pub fn redis_prefix(&self) -> &str {
        self.redis.prefix()
    }
}

impl Drop for LiveStores {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside a test's runtime, which cannot block on its own futures: use a
        // thread with a runtime of its own. A failure leaves a stray database, nothing worse.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                let _ = runtime.block_on(drop_database(&admin_url, &name));
            }
        });
        let _ = dropper.join();
    }
}

/// The `GODEL_TEST_LIVE` switch (the same as `godel_test_support::live::unavailable`): panics
/// under `require` (or `1`), else prints a skip line and returns `None`.
pub(crate) fn unavailable<T>(service: &str, error: &dyn std::fmt::Display) -> Option<T> {
    let mode = std::env::var("GODEL_TEST_LIVE").unwrap_or_default();
    let mode = mode.trim();
    if mode.eq_ignore_ascii_case("require") || mode == "1" {
        panic!("{service} is unreachable and GODEL_TEST_LIVE=require: {error}");
    }
    eprintln!(
        "SKIPPED: {service} is unreachable ({error}); set GODEL_TEST_LIVE=require to fail instead"
    );
    None
}

/// `<prefix>_<pid>_<counter>_<nanos>`: lowercase, unique to this process and call.
fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}
