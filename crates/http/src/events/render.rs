//! Turning an event into its `/events` frame: the event's JSON form plus `type`, where a
//! `task.*` event's `data` is the task as the REST API shows it (read once, with the event's
//! own fields on top: the status it moved to, the agent, the run, the message), as API.md
//! promises. A task event is read and rendered once however many connections send it: the
//! rendered frames of recent events are shared.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use godel_engine::Engine;
use godel_types::{Event, EventId};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::protocol::ServerFrame;

/// Rendered task-event frames kept for connections still to send them.
const REMEMBERED: usize = 4096;

/// One shared frame, rendered by whichever connection asks first.
type Cell = Arc<OnceCell<Arc<str>>>;

/// Renders frames; one per server, shared by its connections.
#[derive(Debug, Default)]
pub(crate) struct Renderer {
    recent: Mutex<Recent>,
}

/// The most recent task events' frames, oldest first for eviction.
#[derive(Debug, Default)]
struct Recent {
    cells: HashMap<EventId, Cell>,
    order: VecDeque<EventId>,
}

impl Renderer {
    /// The frame of `event`, as JSON text.
    pub(crate) async fn frame(&self, engine: &Engine, event: &Event) -> Arc<str> {
        if event.task_id().is_none() {
            return ServerFrame::Event(event).to_text().into();
        }
        let cell = self.cell(event.id);
        cell.get_or_init(|| async { render_task(engine, event).await.into() })
            .await
            .clone()
    }

    fn cell(&self, id: EventId) -> Cell {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cell) = recent.cells.get(&id) {
            return Arc::clone(cell);
        }
        if recent.order.len() >= REMEMBERED
            && let Some(oldest) = recent.order.pop_front()
        {
            recent.cells.remove(&oldest);
        }
        let cell = Cell::default();
        recent.cells.insert(id, Arc::clone(&cell));
        recent.order.push_back(id);
        cell
    }
}

/// A `task.*` event's frame with `data` widened to the whole task.
async fn render_task(engine: &Engine, event: &Event) -> String {
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
