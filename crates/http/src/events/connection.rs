//! One `/events` connection: a loop reading the client, the bus and the ping timer, and a
//! writer task draining a bounded queue into the socket.
//!
//! Nothing here ever waits on the client while holding up the bus: events go to the writer with
//! `try_send`, and a full queue (the client reads too slowly) or a lagging bus subscription (this
//! connection fell behind the publishers) ends the connection with close code 1008 and reason
//! `slow consumer`. A writer stuck on a client that stopped reading gives up its send for the
//! close frame, and the close itself is bounded by [`CLOSE_GRACE`].
//!
//! A `task.*` frame needs the task read from the store, so frames are rendered concurrently (at
//! most [`RENDER_AHEAD`] at once) and sent in the order their events arrived: one slow read does
//! not hold up the events behind it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::stream::{FuturesOrdered, SplitSink};
use futures_util::{SinkExt, StreamExt};
use godel_engine::Engine;
use godel_types::{Event, TenantId};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};

use super::SLOW_CONSUMER;
use super::protocol::{ServerFrame, Subscriptions};
use super::render::Renderer;

/// How long closing a connection may take (sending the close frame, waiting for the client's).
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Events one connection renders at once; beyond it, it stops taking events from the bus until
/// the oldest is sent (and the bus's own bound then tells a connection that fell behind).
pub(crate) const RENDER_AHEAD: usize = 64;

/// A frame being rendered.
type Rendering = Pin<Box<dyn Future<Output = Arc<str>> + Send>>;

/// What one connection may use.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Frames queued for the client before it counts as too slow.
    pub(crate) buffer: usize,
    /// Interval of server pings.
    pub(crate) ping_every: Duration,
}

/// Why the connection loop ended.
#[derive(Debug)]
enum End {
    /// The client closed, or the socket failed.
    Client,
    /// The server ends it with this close frame.
    Server(CloseFrame),
}

/// What a connection renders its frames with.
pub(crate) struct Render {
    /// The engine, to read tasks.
    pub(crate) engine: Engine,
    /// The server's shared renderer.
    pub(crate) renderer: Arc<Renderer>,
    /// Turns `true` when the server shuts down.
    pub(crate) closing: tokio::sync::watch::Receiver<bool>,
}

/// Serves one upgraded socket for `tenant` until either side ends it.
pub(crate) async fn serve(
    socket: WebSocket,
    mut render: Render,
    mut events: broadcast::Receiver<Event>,
    tenant: TenantId,
    limits: Limits,
) {
    let _open = OpenConnection::count();
    let (sink, mut stream) = socket.split();
    let (queue, queued) = mpsc::channel::<Message>(limits.buffer.max(1));
    let (close, close_rx) = oneshot::channel();
    let mut writer = tokio::spawn(write(sink, queued, close_rx));
    let mut subscriptions = Subscriptions::default();
    let mut ping = interval_at(Instant::now() + limits.ping_every, limits.ping_every);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut rendering: FuturesOrdered<Rendering> = FuturesOrdered::new();

    let end = loop {
        let out = tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => Message::Text(subscriptions.handle(&text).into()),
                Some(Ok(Message::Binary(_))) => Message::Text(ServerFrame::Error {
                    message: "binary frames are not supported; send JSON text".to_owned(),
                }.to_text().into()),
                // Pongs are answered by the socket itself; pongs prove liveness only.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break End::Client,
            },
            received = events.recv(), if rendering.len() < RENDER_AHEAD => match received {
                Ok(event) => {
                    let visible = event.tenant.as_ref().is_none_or(|t| *t == tenant);
                    if visible && subscriptions.wants(event.name().as_str()) {
                        let renderer = Arc::clone(&render.renderer);
                        let engine = render.engine.clone();
                        rendering.push_back(Box::pin(async move { renderer.frame(&engine, &event).await }));
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(%tenant, missed, "websocket client fell behind the event bus; closing");
                    break slow_consumer();
                }
                Err(broadcast::error::RecvError::Closed) => break End::Server(CloseFrame {
                    code: close_code::AWAY,
                    reason: "server shutting down".into(),
                }),
            },
            Some(frame) = rendering.next(), if !rendering.is_empty() => Message::Text(frame.as_ref().into()),
            _ = ping.tick() => Message::Ping(Vec::new().into()),
            () = closed(&mut render.closing) => break End::Server(CloseFrame {
                code: close_code::AWAY,
                reason: "server shutting down".into(),
            }),
        };
        if queue.try_send(out).is_err() {
            tracing::warn!(%tenant, buffer = limits.buffer, "websocket client does not read its frames; closing");
            break slow_consumer();
        }
    };

    match end {
        End::Client => {
            // The writer sends what is queued (and the reply to a client's close), then ends.
            drop(queue);
        }
        End::Server(frame) => {
            let _ = close.send(frame);
            // Read until the client answers the close, so the socket is not reset under it.
            let _ = timeout(CLOSE_GRACE, async {
                while let Some(Ok(message)) = stream.next().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
    }
    if timeout(CLOSE_GRACE, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// Completes when the server begins shutting down (or its state is gone).
async fn closed(closing: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, before the caller's next await.
    let _ = closing.wait_for(|closing| *closing).await.map(|_| ());
}

/// Counts one open connection in the gauge for as long as it lives, however its task ends.
struct OpenConnection;

impl OpenConnection {
    fn count() -> Self {
        metrics::gauge!(super::CONNECTIONS).increment(1.0);
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(super::CONNECTIONS).decrement(1.0);
    }
}

/// The close for a client that does not keep up, counted as an error of the events component.
fn slow_consumer() -> End {
    metrics::counter!(
        godel_engine::metrics::ERRORS,
        "type" => "slow_consumer",
        "component" => "events"
    )
    .increment(1);
    End::Server(CloseFrame {
        code: close_code::POLICY,
        reason: SLOW_CONSUMER.into(),
    })
}

/// Sends queued frames until the queue closes (then closes the socket) or a close frame is
/// handed over (then sends it instead of whatever is still queued, even mid-send).
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Message>,
    mut close: oneshot::Receiver<CloseFrame>,
) {
    loop {
        let sent = tokio::select! {
            biased;
            frame = &mut close => {
                send_close(&mut sink, frame.ok()).await;
                return;
            }
            next = queued.recv() => match next {
                Some(message) => tokio::select! {
                    biased;
                    frame = &mut close => {
                        send_close(&mut sink, frame.ok()).await;
                        return;
                    }
                    sent = sink.send(message) => sent,
                },
                None => {
                    let _ = timeout(CLOSE_GRACE, sink.close()).await;
                    return;
                }
            },
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Sends `frame` (when there is one), bounded by [`CLOSE_GRACE`].
async fn send_close(sink: &mut SplitSink<WebSocket, Message>, frame: Option<CloseFrame>) {
    if let Some(frame) = frame {
        let _ = timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    }
}
