//! The `/events` WebSocket (API.md, PRD FR-6, US-006): domain events streamed to a client as
//! they are published, filtered by the patterns it subscribed to and by its tenant.
//!
//! Protocol. The client sends `{"action":"subscribe","patterns":["task.*","agent.*"]}` or
//! `{"action":"unsubscribe","patterns":[...]}`; the server acks with
//! `{"type":"subscribed"|"unsubscribed","patterns":[<the whole current set>]}`, answers a message
//! it cannot act on with `{"type":"error","message":...}` (the connection stays open), and sends
//! each matching event as its JSON form plus `"type":"event"`:
//! `{"type":"event","event":"task.created","id","tenant_id","timestamp","data":{...}}`, where a
//! `task.*` event's `data` is the task as the REST API shows it plus the event's own fields
//! (read and rendered once per event by `render`, whatever the number of connections).
//! A connection starts with no subscription. The server pings every `ws_ping_interval`.
//!
//! Scoping. A client sees its own tenant's events and the fleet-wide ones (no tenant:
//! `instance.*`, `agent.*`, `system.*`); the tenant comes from the [`Principal`] the auth
//! middleware attached (header or `?token=`), never from the client.
//!
//! Backpressure. Publishing never waits for a client: one that falls behind (its outgoing queue
//! of `ws_buffer` frames is full, or its bus subscription lagged) is closed with code 1008 and
//! reason [`SLOW_CONSUMER`].
//!
//! - [`pattern`]: the glob matcher of subscriptions.

mod connection;
pub mod pattern;
mod protocol;
pub(crate) mod render;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::get;

use crate::auth::Principal;
use crate::state::AppState;

/// Most patterns one connection may hold.
pub const MAX_PATTERNS: usize = 64;

/// Largest message a client may send, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The close reason given to a client that does not keep up.
pub const SLOW_CONSUMER: &str = "slow consumer";

/// Shortest ping interval used, whatever the options say.
const MIN_PING_INTERVAL: Duration = Duration::from_millis(10);

/// Gauge: `/events` connections open.
pub const CONNECTIONS: &str = "dash_ws_connections";

/// `GET /events`, the WebSocket. Needs a [`Principal`] in the request's extensions (401
/// otherwise), put there by the auth middleware.
pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(upgrade))
}

/// Upgrades an authenticated request. The bus subscription starts here, so nothing published
/// after the handshake is missed.
async fn upgrade(
    principal: Principal,
    State(state): State<AppState>,
    ws: WebSocketUpgrade,
) -> Response {
    let events = state.engine().bus().subscribe();
    let render = connection::Render {
        engine: state.engine().clone(),
        renderer: state.event_renderer(),
        closing: state.closing(),
    };
    let limits = connection::Limits {
        buffer: state.options().ws_buffer,
        // A zero interval would make the ping timer panic.
        ping_every: state.options().ws_ping_interval.max(MIN_PING_INTERVAL),
    };
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            connection::serve(socket, render, events, principal.tenant, limits)
        })
}
