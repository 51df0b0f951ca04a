//! The one subscriber to the engine's bus that every `/events` connection reads through. It
//! renders each event into its frame once, whatever the number of connections, and for a
//! `task.*` event makes `data` the task as the REST API shows it (read once, with the event's
//! own fields on top: the status it moved to, the agent, the run, the message), as API.md
//! promises. With no connection open it renders nothing.

use std::sync::Arc;

use godel_engine::Engine;
use godel_types::{Event, TenantId};
use serde_json::Value;
use tokio::sync::broadcast;

use super::protocol::ServerFrame;

/// One rendered event, as connections filter and send it.
#[derive(Debug)]
pub(crate) struct Frame {
    /// Whose event it is; `None` for fleet-wide events (every tenant sees them).
    pub(crate) tenant: Option<TenantId>,
    /// Its name, e.g. `task.completed` (`None` for a notice every connection gets).
    pub(crate) name: Option<&'static str>,
    /// The JSON text frame.
    pub(crate) text: Arc<str>,
}

/// The rendered stream; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    sender: broadcast::Sender<Arc<Frame>>,
}

impl Hub {
    /// Starts rendering `engine`'s events; each connection may lag by `capacity` frames. Must
    /// be called inside a tokio runtime. The task ends when the engine's bus closes.
    pub(crate) fn start(engine: Engine, capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        let events = engine.bus().subscribe();
        tokio::spawn(run(engine, events, sender.clone()));
        Self { sender }
    }

    /// A new subscription receiving every frame rendered from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.sender.subscribe()
    }
}

async fn run(
    engine: Engine,
    mut events: broadcast::Receiver<Event>,
    sender: broadcast::Sender<Arc<Frame>>,
) {
    loop {
        let frame = match events.recv().await {
            Ok(event) => {
                if sender.receiver_count() == 0 {
                    continue;
                }
                Frame {
                    tenant: event.tenant.clone(),
                    name: Some(event.name().as_str()),
                    text: render(&engine, &event).await.into(),
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the /events hub fell behind the bus; clients are told"
                );
                let notice = ServerFrame::Error {
                    message: format!("the server fell behind and dropped {missed} events"),
                };
                Frame {
                    tenant: None,
                    name: None,
                    text: notice.to_text().into(),
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        // No receiver is not an error: the last connection may just have closed.
        let _ = sender.send(Arc::new(frame));
    }
}

/// The frame of `event`: its JSON form plus `type`, with a `task.*` event's `data` widened to
/// the whole task.
async fn render(engine: &Engine, event: &Event) -> String {
    let text = ServerFrame::Event(event).to_text();
    let (Some(tenant), Some(id)) = (&event.tenant, event.task_id()) else {
        return text;
    };
    let Ok(task) = engine.tasks().get(tenant, id).await else {
        // Purged or unreadable: the event's own summary is still worth sending.
        return text;
    };
    let (Ok(Value::Object(mut frame)), Ok(Value::Object(mut data))) = (
        serde_json::from_str::<Value>(&text),
        serde_json::to_value(&task),
    ) else {
        return text;
    };
    if let Some(Value::Object(fields)) = frame.remove("data") {
        data.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
    }
    frame.insert("data".to_owned(), Value::Object(data));
    serde_json::to_string(&frame).unwrap_or(text)
}
