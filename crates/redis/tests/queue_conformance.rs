//! `RedisQueueStore` passes the whole queue conformance suite, each case on a key prefix of
//! its own. Without a reachable Redis every case skips (or fails under GODEL_TEST_LIVE=require).

use std::sync::Arc;

use godel_queue::conformance::StoreFactory;
use godel_queue::{ManualClock, QueueConfig};
use godel_redis::RedisQueueStore;
use godel_redis::testing::TestRedis;

/// Makes stores on a live Redis; exists only once Redis answered.
struct RedisFactory;

impl RedisFactory {
    /// The factory, or `None` (after a skip line) when Redis is unreachable.
    async fn connect() -> Option<Self> {
        TestRedis::create().await.map(|_probe| Self)
    }
}

impl StoreFactory for RedisFactory {
    type Store = RedisQueueStore;

    async fn create(&self, config: QueueConfig, clock: ManualClock) -> RedisQueueStore {
        let redis = TestRedis::create()
            .await
            .expect("redis answered a moment ago");
        redis.queue_store(config, Arc::new(clock))
    }
}

godel_queue::queue_conformance!(match RedisFactory::connect().await {
    Some(factory) => factory,
    None => return,
});
