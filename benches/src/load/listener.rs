//! The event listener: one `/events` WebSocket (the typed `godel::client`), subscribed for the
//! whole run, recording for every event its delivery latency (receive instant − the event's
//! `timestamp`, both from this host's clock) and, for `task.started`, the dispatch latency
//! (`started_at − created_at` of the task it carries). A connection the server closes (a slow
//! consumer) counts as an error and is opened again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use godel::client::{Client, ClientError, EventMessage};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

/// A subscription's events.
type Events = BoxStream<'static, Result<EventMessage, ClientError>>;

/// What one event told.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRecord {
    /// The event's timestamp, seconds from the run's start.
    pub at: f64,
    /// Receive instant − event timestamp, ms.
    pub delivery_ms: f64,
    /// What kind of event it was.
    pub kind: EventKind,
}

/// The events a run tells apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EventKind {
    /// `task.started`, with the task's creation (seconds from the run's start) and its
    /// dispatch latency (ms).
    Started {
        /// `created_at`, seconds from the run's start.
        created_at: f64,
        /// `started_at − created_at`, ms.
        dispatch_ms: f64,
    },
    /// `task.completed`.
    Completed,
    /// `task.failed` or `task.dead_lettered`.
    Failed,
    /// Anything else.
    Other,
}

/// Everything the listener saw.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    /// One record per event, in arrival order.
    pub records: Vec<EventRecord>,
    /// Problems by kind (`ws_closed`, `ws_error`, `bad_event`).
    pub errors: BTreeMap<String, u64>,
}

/// Counts the run reads while the listener works.
#[derive(Debug, Default)]
pub struct Progress {
    /// Tasks completed so far.
    pub completed: AtomicU64,
    /// Tasks failed or dead-lettered so far.
    pub failed: AtomicU64,
}

impl Progress {
    /// Tasks that ended, either way.
    #[must_use]
    pub fn ended(&self) -> u64 {
        self.completed.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }
}

/// A subscribed listener, running on its own task.
#[derive(Debug)]
pub struct Listener {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<EventLog>,
    /// Live counts.
    pub progress: Arc<Progress>,
}

impl Listener {
    /// Connects to `base` with `key`, subscribes to `patterns` and waits for the server's
    /// acknowledgement; events are timed from `start` (wall clock).
    ///
    /// # Errors
    /// When the connection or the subscription fails.
    pub async fn start(
        base: &str,
        key: &str,
        patterns: &[&str],
        start: OffsetDateTime,
    ) -> anyhow::Result<Self> {
        let client = Client::try_new(base, Some(key.to_owned()))?;
        let owned: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let first: Events = Box::pin(client.subscribe(patterns).await?);
        let (stop, mut stopped) = watch::channel(false);
        let progress = Arc::new(Progress::default());
        let counts = Arc::clone(&progress);
        let task = tokio::spawn(async move {
            let mut log = EventLog::default();
            let mut events = first;
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    next = events.next() => match next {
                        Some(Ok(event)) => {
                            let kind = record(&mut log, &event, start);
                            match kind {
                                Some(EventKind::Completed) => {
                                    counts.completed.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(EventKind::Failed) => {
                                    counts.failed.fetch_add(1, Ordering::Relaxed);
                                }
                                _ => {}
                            }
                        }
                        other => {
                            let kind = if other.is_some() { "ws_error" } else { "ws_closed" };
                            *log.errors.entry(kind.to_owned()).or_default() += 1;
                            let patterns: Vec<&str> = owned.iter().map(String::as_str).collect();
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            match client.subscribe(&patterns).await {
                                Ok(again) => events = Box::pin(again) as Events,
                                Err(_) => {
                                    *log.errors.entry("ws_reconnect".to_owned()).or_default() += 1;
                                }
                            }
                        }
                    },
                }
            }
            log
        });
        Ok(Self {
            stop,
            task,
            progress,
        })
    }

    /// Stops listening and returns what was seen.
    pub async fn finish(self) -> EventLog {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_else(|e| {
            let mut log = EventLog::default();
            log.errors.insert(format!("listener_panicked: {e}"), 1);
            log
        })
    }
}

/// Records `event` in `log`; its kind, or `None` when it could not be read.
fn record(log: &mut EventLog, event: &EventMessage, start: OffsetDateTime) -> Option<EventKind> {
    let received = OffsetDateTime::now_utc();
    let Some(stamp) = parse_time(&event.timestamp) else {
        *log.errors.entry("bad_event".to_owned()).or_default() += 1;
        return None;
    };
    let kind = classify(&event.event, &event.data, start);
    log.records.push(EventRecord {
        at: (stamp - start).as_seconds_f64(),
        delivery_ms: (received - stamp).as_seconds_f64() * 1000.0,
        kind,
    });
    Some(kind)
}

/// The kind of an event called `name` carrying `data`, times from `start`.
fn classify(name: &str, data: &Value, start: OffsetDateTime) -> EventKind {
    match name {
        "task.started" => {
            let time = |field: &str| data[field].as_str().and_then(parse_time);
            match (time("created_at"), time("started_at")) {
                (Some(created), Some(started)) => EventKind::Started {
                    created_at: (created - start).as_seconds_f64(),
                    dispatch_ms: (started - created).as_seconds_f64() * 1000.0,
                },
                _ => EventKind::Other,
            }
        }
        "task.completed" => EventKind::Completed,
        "task.failed" | "task.dead_lettered" => EventKind::Failed,
        _ => EventKind::Other,
    }
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn started_events_give_the_dispatch_latency_from_the_task_they_carry() {
        let start = datetime!(2026-01-01 00:00:00 UTC);
        let data = json!({
            "id": "t",
            "created_at": "2026-01-01T00:00:02.000Z",
            "started_at": "2026-01-01T00:00:02.0125Z",
        });
        let kind = classify("task.started", &data, start);
        let EventKind::Started {
            created_at,
            dispatch_ms,
        } = kind
        else {
            panic!("{kind:?}")
        };
        assert!((created_at - 2.0).abs() < 1e-9, "{created_at}");
        assert!((dispatch_ms - 12.5).abs() < 1e-6, "{dispatch_ms}");
        assert_eq!(
            classify("task.started", &json!({}), start),
            EventKind::Other
        );
        assert_eq!(
            classify("task.completed", &data, start),
            EventKind::Completed
        );
        assert_eq!(
            classify("task.dead_lettered", &data, start),
            EventKind::Failed
        );
        assert_eq!(
            classify("agent.load_change", &data, start),
            EventKind::Other
        );
    }

    #[test]
    fn events_with_an_unreadable_timestamp_count_as_errors() {
        let mut log = EventLog::default();
        let event = EventMessage {
            event: "task.created".into(),
            id: "e".into(),
            tenant_id: None,
            timestamp: "yesterday".into(),
            data: json!({}),
        };
        assert_eq!(record(&mut log, &event, OffsetDateTime::now_utc()), None);
        assert_eq!(log.errors.get("bad_event"), Some(&1));
        assert!(log.records.is_empty());
    }
}
