//! The `EventBus` port, its in-process implementation, and the writer that copies every
//! published event into the audit trail ([`EventLog`]).
//!
//! Publishing never waits on subscribers: a subscriber that falls behind loses the oldest
//! events and learns how many (`Lagged`), so one slow consumer cannot slow the engine. The
//! audit writer is a subscriber too; what it misses is reported in its log and metrics.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use godel_lifecycle::EventLog;
use godel_types::Event;
use tokio::sync::{broadcast, watch};

/// Where every domain event is published. A multi-replica deployment fans them out (Redis
/// pub/sub); the default is in-process.
pub trait EventBus: Send + Sync + fmt::Debug {
    /// Publishes one event to every current subscriber. Never blocks.
    fn publish(&self, event: Event);

    /// A new subscription receiving every event published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Event>;
}

/// An [`EventBus`] inside one process, over a bounded broadcast channel.
#[derive(Debug, Clone)]
pub struct BroadcastBus {
    sender: broadcast::Sender<Event>,
}

impl BroadcastBus {
    /// A bus on which each subscriber may lag by up to `capacity` events.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }
}

impl Default for BroadcastBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl EventBus for BroadcastBus {
    fn publish(&self, event: Event) {
        metrics::counter!(crate::metrics::EVENTS_PUBLISHED, "event" => event.name().as_str())
            .increment(1);
        // No subscriber is not an error: events are also written by the audit writer, if any.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

/// Copies events from the bus into the [`EventLog`] in batches until `stop` turns true; writes
/// what it already received before ending.
pub(crate) async fn run_audit_writer(
    mut events: broadcast::Receiver<Event>,
    log: Arc<dyn EventLog>,
    mut stop: watch::Receiver<bool>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        tokio::select! {
            biased;
            received = events.recv() => match received {
                Ok(event) => {
                    batch.push(event);
                    // Take whatever else is already waiting, up to one batch.
                    while batch.len() < max_batch {
                        match events.try_recv() {
                            Ok(e) => batch.push(e),
                            Err(_) => break,
                        }
                    }
                    write(&*log, &mut batch).await;
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::error!(missed, "audit writer fell behind; events not recorded");
                    metrics::counter!(crate::metrics::AUDIT_EVENTS_DROPPED).increment(missed);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            () = crate::engine::stopped(&mut stop) => {
                while let Ok(e) = events.try_recv() {
                    batch.push(e);
                }
                write(&*log, &mut batch).await;
                break;
            }
        }
    }
}

/// Appends `batch` to the log, retrying a few times, then empties it.
async fn write(log: &dyn EventLog, batch: &mut Vec<Event>) {
    if batch.is_empty() {
        return;
    }
    for attempt in 1..=3u32 {
        match log.append(batch).await {
            Ok(()) => break,
            Err(e) if attempt < 3 => {
                tracing::warn!(error = %e, attempt, "audit append failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.len(), "audit append failed; events not recorded");
                metrics::counter!(crate::metrics::AUDIT_EVENTS_DROPPED)
                    .increment(batch.len() as u64);
            }
        }
    }
    batch.clear();
}
