//! What pairing this index with an authoritative store needs (the `godel` facade's paired
//! store): connecting by URL, its pool (shared with the leader lease and rate limiter), a health probe, the claim that also reports throttling, wiping
//! the prefix, raising the counters, and the sentinel that tells a rebuilt index from an empty
//! one.

use std::sync::Arc;

use deadpool_redis::{Config, Pool, Runtime};
use godel_queue::{AgentId, Clock, Eligibility, Lease, QueueConfig, QueueError};
use redis::AsyncCommands;

use super::RedisQueueStore;
use crate::error::Context;
use crate::scripts;

/// The fleet key the paired store writes once it has rebuilt the index.
const EPOCH: &str = "index-epoch";

impl RedisQueueStore {
    /// A store on the Redis at `url` (a `redis://` URL). No connection is made until the first
    /// call, so a store on an unreachable Redis is built all the same and fails per call.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] for an invalid configuration or a URL the pool refuses.
    pub fn connect(
        url: &str,
        prefix: impl Into<String>,
        config: QueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QueueError> {
        let pool = Config::from_url(url)
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| QueueError::Invalid {
                field: "redis_url",
                reason: e.to_string(),
            })?;
        Self::new(pool, prefix, config, clock)
    }

    /// The connection pool, to share with the leader lease and the rate limiter.
    #[must_use]
    pub fn pool(&self) -> &Pool {
        self.core.connection.pool()
    }

    /// Whether Redis answers a `PING`.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when it does not.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.core.conn().await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("ping")?;
        Ok(())
    }

    /// As [`claim`](godel_queue::QueueStore::claim), also telling whether a limit held back an
    /// eligible task (what counts the claim as throttled).
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn claim_counting(
        &self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
    ) -> Result<(Vec<Lease>, bool), QueueError> {
        self.claim_combined(agent, eligibility, max).await
    }

    /// Deletes every key under the store's prefix (`SCAN` + `UNLINK` of `<prefix>:*`): tasks,
    /// indexes, counters, limits and the sentinel. Returns how many keys went.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn clear(&self) -> Result<u64, QueueError> {
        let fleet = self.core.keys.fleet();
        let prefix = fleet.strip_suffix(":{#}:").unwrap_or(&fleet);
        let pattern = format!("{}:*", escape_glob(prefix));
        let mut conn = self.core.conn().await?;
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .context("scan keys")?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .context("unlink keys")?;
                removed += n;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// Raises the enqueue sequence so the next `seq` is at least `next_seq`, and the fence
    /// counter to at least `last_fence` (neither is ever lowered).
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn raise_counters(&self, next_seq: u64, last_fence: u64) -> Result<(), QueueError> {
        let mut conn = self.core.conn().await?;
        self.raise_on(&mut conn, next_seq, last_fence).await
    }

    /// [`raise_counters`](Self::raise_counters) on a connection the caller holds.
    pub(super) async fn raise_on(
        &self,
        conn: &mut super::shared::Connection,
        next_seq: u64,
        last_fence: u64,
    ) -> Result<(), QueueError> {
        let _: Vec<u64> = scripts::RAISE
            .key(self.core.keys.fleet_key("seq"))
            .key(self.core.keys.fleet_key("fence"))
            .arg(next_seq)
            .arg(last_fence)
            .invoke_async(conn)
            .await
            .context("raise counters")?;
        Ok(())
    }

    /// Writes the index sentinel `<prefix>:{#}:index-epoch` with `epoch`.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn write_index_epoch(&self, epoch: &str) -> Result<(), QueueError> {
        let mut conn = self.core.conn().await?;
        let (): () = conn
            .set(self.core.keys.fleet_key(EPOCH), epoch)
            .await
            .context("write index epoch")?;
        Ok(())
    }

    /// The index sentinel, if present (gone after a flush or a restart on empty storage).
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn index_epoch(&self) -> Result<Option<String>, QueueError> {
        let mut conn = self.core.conn().await?;
        let epoch: Option<String> = conn
            .get(self.core.keys.fleet_key(EPOCH))
            .await
            .context("read index epoch")?;
        Ok(epoch)
    }
}

/// `text` with the glob metacharacters of `SCAN MATCH` escaped.
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
