//! Test fixtures (feature `test-util`): a Redis connection with a key prefix of its own,
//! deleted when the fixture is dropped.

use std::sync::Arc;

use deadpool_redis::{Config, Pool, Runtime};
use godel_queue::{Clock, QueueConfig};
use godel_test_support::live;

use crate::RedisQueueStore;

/// The environment variable naming the Redis to test against.
pub const URL_ENV: &str = "GODEL_TEST_REDIS_URL";

/// The Redis tests use when [`URL_ENV`] is not set.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// A live Redis with a random key prefix; every key under it is deleted on drop.
#[derive(Debug)]
pub struct TestRedis {
    url: String,
    pool: Pool,
    prefix: String,
}

impl TestRedis {
    /// Connects, or returns `None` after printing a skip line when Redis is unreachable (under
    /// `GODEL_TEST_LIVE=require` it panics instead).
    pub async fn create() -> Option<Self> {
        let url = std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let pool = match Config::from_url(url.clone()).create_pool(Some(Runtime::Tokio1)) {
            Ok(pool) => pool,
            Err(e) => return live::unavailable("redis", e),
        };
        let ping = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        if let Err(e) = ping.await {
            return live::unavailable("redis", e);
        }
        Some(Self {
            url,
            pool,
            prefix: live::unique_name("godel_t"),
        })
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The key prefix of this fixture.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Deletes every key under the prefix now (as a Redis flush of this prefix would).
    ///
    /// # Panics
    /// When Redis fails meanwhile.
    pub async fn flush(&self) {
        let mut conn = self.pool.get().await.expect("redis connection");
        delete_prefix(&mut conn, &self.prefix).await;
    }

    /// A queue store under this fixture's prefix that keeps the fixture (and its keys) alive
    /// as long as the store.
    ///
    /// # Panics
    /// When `config` is invalid.
    #[must_use]
    pub fn queue_store(self, config: QueueConfig, clock: Arc<dyn Clock>) -> RedisQueueStore {
        let store = RedisQueueStore::new(self.pool.clone(), self.prefix.clone(), config, clock)
            .expect("valid test config");
        store.keep_alive(Box::new(self))
    }
}

async fn delete_prefix<C: redis::aio::ConnectionLike + Send>(conn: &mut C, prefix: &str) {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("scan test keys");
        if !keys.is_empty() {
            let _: i64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(conn)
                .await
                .expect("unlink test keys");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on I/O: clean up from a
        // thread with a runtime of its own.
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(client) = redis::Client::open(url) else {
                    return;
                };
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                    return;
                };
                delete_prefix(&mut conn, &prefix).await;
            });
        });
        let _ = cleanup.join();
    }
}
