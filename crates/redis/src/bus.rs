//! `RedisEventBus`: domain events over Redis pub/sub, one channel per prefix.
//!
//! Every replica publishes its events as JSON on `<prefix>:events` and delivers to its local
//! subscribers only what it receives from that channel, its own events included. So each
//! replica sees every event exactly once, in the order Redis delivered them, and no replica id
//! is needed to drop echoes. The subscription runs on a connection manager that reconnects and
//! resubscribes by itself when Redis restarts; events published while Redis is away are lost
//! (the audit trail is written by each replica from what it publishes, see `godel-engine`).

use std::fmt;

use godel_engine::{EngineError, EventBus};
use godel_types::Event;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::error::Context;
use crate::keys::Keys;

/// An [`EventBus`] shared by every replica on the same Redis and prefix.
pub struct RedisEventBus {
    local: broadcast::Sender<Event>,
    outbox: mpsc::UnboundedSender<String>,
    channel: String,
    tasks: [JoinHandle<()>; 2],
}

impl fmt::Debug for RedisEventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisEventBus")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisEventBus {
    /// Connects to `url` (RESP3 is switched on), subscribes to `<prefix>:events` and returns
    /// once subscribed; each local subscriber may lag by up to `capacity` events.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when Redis cannot be reached.
    pub async fn connect(url: &str, prefix: &str, capacity: usize) -> Result<Self, EngineError> {
        let url = if url.contains("protocol=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&protocol=resp3")
        } else {
            format!("{url}?protocol=resp3")
        };
        let client = redis::Client::open(url).context("open event bus client")?;
        let channel = Keys::new(prefix).events();
        let (push_tx, push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(push_tx)
            .set_automatic_resubscription();
        let mut subscriber = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .context("connect event subscriber")?;
        subscriber
            .subscribe(&channel)
            .await
            .context("subscribe to events")?;
        let publisher = ConnectionManager::new(client)
            .await
            .context("connect event publisher")?;
        let (local, _) = broadcast::channel(capacity.max(1));
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let tasks = [
            tokio::spawn(fan_out(subscriber, push_rx, local.clone())),
            tokio::spawn(publish_all(publisher, channel.clone(), outbox_rx)),
        ];
        Ok(Self {
            local,
            outbox,
            channel,
            tasks,
        })
    }
}

impl Drop for RedisEventBus {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl EventBus for RedisEventBus {
    fn publish(&self, event: Event) {
        match serde_json::to_string(&event) {
            Ok(json) => {
                // The publisher task ends only when the bus is dropped.
                let _ = self.outbox.send(json);
            }
            Err(e) => tracing::error!(error = %e, "event not serializable; dropped"),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }
}

/// Delivers every message of the channel to the local subscribers. Holds the subscribing
/// connection so it lives as long as the bus.
async fn fan_out(
    _subscriber: ConnectionManager,
    mut pushes: mpsc::UnboundedReceiver<PushInfo>,
    local: broadcast::Sender<Event>,
) {
    while let Some(push) = pushes.recv().await {
        if push.kind != PushKind::Message {
            continue;
        }
        let Some(payload) = push.data.get(1) else {
            continue;
        };
        let Ok(json) = redis::from_redis_value_ref::<String>(payload) else {
            continue;
        };
        match serde_json::from_str::<Event>(&json) {
            Ok(event) => {
                let _ = local.send(event);
            }
            Err(e) => tracing::warn!(error = %e, "undecodable event on the bus; skipped"),
        }
    }
}

/// Publishes queued events in order; a failure is logged and the event dropped.
async fn publish_all(
    mut conn: ConnectionManager,
    channel: String,
    mut outbox: mpsc::UnboundedReceiver<String>,
) {
    while let Some(json) = outbox.recv().await {
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(json)
            .query_async(&mut conn)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "event not published; dropped");
        }
    }
}
