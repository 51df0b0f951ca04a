//! `godel-redis`: Godel's hot path on Redis.
//!
//! - [`RedisQueueStore`]: a [`godel_queue::QueueStore`] whose every atomic step is one Lua
//!   script over one tenant's keys (`<prefix>:{<tenant>}:...`, one cluster slot), with the
//!   cross-tenant choice (strict priority, then stride scheduling by weight) made in Rust from
//!   small fleet-wide keys (`<prefix>:{#}:...`). Agent load lives in the same tenant keys.
//! - [`RedisEventBus`]: a [`godel_engine::EventBus`] over Redis pub/sub, so every replica
//!   sees every event once.
//! - [`RedisLeaderLease`]: a [`godel_engine::LeaderLease`] with a fencing token per term.
//! - [`RateLimiter`]: token buckets per key, for HTTP rate limits.
//!
//! With the `test-util` feature, `testing::TestRedis` gives each test its own key prefix.

mod bus;
mod error;
mod keys;
mod leader;
mod queue;
mod rate_limit;
mod scripts;

#[cfg(feature = "test-util")]
pub mod testing;

pub use bus::RedisEventBus;
pub use keys::DEFAULT_PREFIX;
pub use leader::RedisLeaderLease;
pub use queue::RedisQueueStore;
pub use rate_limit::{RateDecision, RateLimiter};
