//! The dependencies `/health` probes: the durable store (critical: without it nothing is
//! accepted) and Redis (not critical: the queue falls back to Postgres alone, so its loss
//! makes the server degraded, not unhealthy).

use std::sync::Arc;

use async_trait::async_trait;
use godel_federation::InstanceStore;
use godel_http::HealthProbe;
#[cfg(feature = "redis")]
use godel_redis::RedisQueueStore;

#[cfg(feature = "redis")]
use crate::store::{IndexHealth, PairedQueueStore};

/// The store, probed with one cheap real query (the instance registry).
pub(super) struct DatabaseProbe(pub(super) Arc<dyn InstanceStore>);

#[async_trait]
impl HealthProbe for DatabaseProbe {
    fn name(&self) -> &'static str {
        "database"
    }

    fn critical(&self) -> bool {
        true
    }

    async fn probe(&self) -> Result<(), String> {
        self.0.list().await.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[cfg(feature = "redis")]
/// Redis: answers `PING`, and the paired queue is using its index (not degraded).
pub(super) struct RedisProbe {
    pub(super) index: Arc<RedisQueueStore>,
    pub(super) paired: Arc<PairedQueueStore>,
}

#[cfg(feature = "redis")]
#[async_trait]
impl HealthProbe for RedisProbe {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn critical(&self) -> bool {
        false
    }

    async fn probe(&self) -> Result<(), String> {
        self.index.ping().await.map_err(|e| e.to_string())?;
        match self.paired.health() {
            IndexHealth::Degraded { reason } => Err(format!("queue on Postgres alone: {reason}")),
            _ => Ok(()),
        }
    }
}
