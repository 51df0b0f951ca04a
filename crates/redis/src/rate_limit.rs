//! `RateLimiter`: one token bucket per key in one Lua script, for per-credential HTTP rate
//! limits (`X-RateLimit-*` headers), shared by every replica; it implements the engine's
//! [`RateLimiter`](godel_engine::access::RateLimiter) port. Time comes from the caller, in
//! milliseconds.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::Pool;
use godel_engine::EngineError;
pub use godel_engine::access::RateDecision;
use time::OffsetDateTime;

use crate::error::Context;
use crate::keys::Keys;
use crate::scripts;

/// Token buckets under one prefix.
#[derive(Clone)]
pub struct RateLimiter {
    pool: Pool,
    keys: Keys,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Buckets kept under `prefix`.
    #[must_use]
    pub fn new(pool: Pool, prefix: &str) -> Self {
        Self {
            pool,
            keys: Keys::new(prefix),
        }
    }

    /// Takes one token from `key`'s bucket of `capacity` tokens refilled at `per_second`, at
    /// time `now`. A bucket seen for the first time starts full; an idle bucket expires once
    /// it would be full again.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for a capacity of 0 or a rate that is not positive;
    /// [`EngineError::Unavailable`] when Redis cannot be reached.
    pub async fn check(
        &self,
        key: &str,
        capacity: u32,
        per_second: f64,
        now: OffsetDateTime,
    ) -> Result<RateDecision, EngineError> {
        godel_engine::access::validate_bucket(capacity, per_second)?;
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let mut conn = self.pool.get().await.context("connect")?;
        let (allowed, remaining, reset_ms, retry_ms): (i64, i64, i64, i64) = scripts::RATE_LIMIT
            .key(self.keys.rate(key))
            .arg(capacity)
            .arg(per_second)
            .arg(now_ms)
            .arg(1)
            .invoke_async(&mut conn)
            .await
            .context("rate limit")?;
        let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        Ok(RateDecision {
            allowed: allowed == 1,
            limit: capacity,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset: ms(reset_ms),
            retry_after: ms(retry_ms),
        })
    }
}

#[async_trait]
impl godel_engine::access::RateLimiter for RateLimiter {
    async fn check(
        &self,
        key: &str,
        capacity: u32,
        per_second: f64,
        now: OffsetDateTime,
    ) -> Result<RateDecision, EngineError> {
        Self::check(self, key, capacity, per_second, now).await
    }
}
