//! `RedisLeaderLease`: leadership as a key with a TTL, a fencing token per term.
//!
//! The holder key stores `<term>|<holder>` and expires after the TTL. Taking a free lease
//! starts a new term (`INCR` of the term counter) and sets the key `NX PX`; only the holder
//! renews it (compare and `PEXPIRE`) or releases it (compare and `DEL`), all in Lua.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::Pool;
use godel_engine::{EngineError, LeaderLease};

use crate::error::Context;
use crate::keys::Keys;
use crate::scripts;

/// A [`LeaderLease`] in Redis, shared by every replica using the same prefix and name.
#[derive(Clone)]
pub struct RedisLeaderLease {
    pool: Pool,
    holder_key: String,
    term_key: String,
}

impl std::fmt::Debug for RedisLeaderLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLeaderLease")
            .field("holder_key", &self.holder_key)
            .finish_non_exhaustive()
    }
}

impl RedisLeaderLease {
    /// The lease called `name` (e.g. `duties`) under `prefix`.
    #[must_use]
    pub fn new(pool: Pool, prefix: &str, name: &str) -> Self {
        let (holder_key, term_key) = Keys::new(prefix).leader(name);
        Self {
            pool,
            holder_key,
            term_key,
        }
    }
}

#[async_trait]
impl LeaderLease for RedisLeaderLease {
    async fn acquire(&self, holder: &str, ttl: Duration) -> Result<Option<u64>, EngineError> {
        let mut conn = self.pool.get().await.context("connect")?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let term: i64 = scripts::LEADER_ACQUIRE
            .key(&self.holder_key)
            .key(&self.term_key)
            .arg(holder)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await
            .context("acquire leadership")?;
        Ok(u64::try_from(term).ok())
    }

    async fn release(&self, holder: &str) -> Result<(), EngineError> {
        let mut conn = self.pool.get().await.context("connect")?;
        let _: i64 = scripts::LEADER_RELEASE
            .key(&self.holder_key)
            .arg(holder)
            .invoke_async(&mut conn)
            .await
            .context("release leadership")?;
        Ok(())
    }
}
