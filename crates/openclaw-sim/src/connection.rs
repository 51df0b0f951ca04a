//! One WebSocket connection: the upgrade, the challenge and handshake, then a single task that
//! multiplexes client frames, queued events, ticks, pending `agent.wait` answers and the stop
//! signals. The connection adds its own `seq` to every event it writes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::frames::{
    FrameError, Request, RpcError, event_text, new_id, now_ms, parse_request, res_err, res_ok,
};
use crate::gateway::{Counters, OpenConnection};
use crate::handshake::{Hello, check_connect, hello_ok};
use crate::http::Head;
use crate::methods::{ConnCtx, Dispatch, dispatch, health_payload};
use crate::server::{Control, Instance, Mode, stopped};
use crate::state::{ConnEntry, Outbound};

/// The largest frame a client may send (the real gateway's `policy.maxPayload`, 25 MiB).
pub(crate) const MAX_PAYLOAD: usize = 25 * 1024 * 1024;

/// Events queued per connection before it counts as a slow consumer.
const QUEUE: usize = 4096;

/// How long a close handshake may take before the socket is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The connection is gone (write failed or it was closed).
struct Gone;

/// Upgrades the socket and serves the WebSocket connection until it ends.
pub(crate) async fn serve(instance: Arc<Instance>, mut stream: TcpStream, head: Head) {
    let Some(key) = head.header("sec-websocket-key") else {
        crate::http::reply_bad_request(&mut stream).await;
        return;
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_PAYLOAD))
        .max_frame_size(Some(MAX_PAYLOAD));
    let ws =
        WebSocketStream::from_partially_read(stream, head.rest, Role::Server, Some(config)).await;
    let shared = Arc::clone(&instance.shared);
    let _open = OpenConnection::new(&shared.counters);
    let mut conn = Conn {
        instance,
        ws,
        seq: 0,
    };
    conn.run().await;
}

/// Unregisters a connection from the broadcaster when dropped (also on abort).
struct Registration {
    instance: Arc<Instance>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.instance.lock().conns.remove(self.id);
    }
}

struct Conn {
    instance: Arc<Instance>,
    ws: WebSocketStream<TcpStream>,
    seq: u64,
}

impl Conn {
    async fn send_text(&mut self, text: String) -> Result<(), Gone> {
        self.ws.send(Message::text(text)).await.map_err(|_| Gone)
    }

    async fn send_json(&mut self, frame: &Value) -> Result<(), Gone> {
        self.send_text(frame.to_string()).await
    }

    async fn send_event(&mut self, name: &str, payload_json: &str) -> Result<(), Gone> {
        self.seq += 1;
        let text = event_text(name, payload_json, Some(self.seq));
        self.send_text(text).await
    }

    /// Sends a close frame and waits briefly for the client's answer.
    async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.to_owned().into(),
        };
        if self.ws.close(Some(frame)).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// A frame that broke the schema: an error `res` when it had an id, then close 1008.
    async fn refuse_frame(&mut self, error: FrameError) {
        tracing::debug!(error = %error.message, "invalid frame, closing with 1008");
        if let Some(id) = &error.id {
            let frame = res_err(id, &RpcError::invalid(error.message.clone()));
            if self.send_json(&frame).await.is_err() {
                return;
            }
        }
        self.close(1008, "invalid request frame").await;
    }

    fn hung(&self) -> bool {
        self.instance.shared.is_hung()
    }

    async fn run(&mut self) {
        let mut control = self.instance.control.subscribe();
        let challenge = json!({
            "nonce": new_id(),
            "ts": now_ms(),
            "capabilities": ["model-catalog-snapshot"],
        });
        let text = event_text("connect.challenge", &challenge.to_string(), None);
        if self.send_text(text).await.is_err() {
            return;
        }
        let Some((req_id, hello)) = self.handshake(&mut control).await else {
            return;
        };
        Counters::bump(&self.instance.shared.counters.handshakes_ok);
        let (tx, rx) = mpsc::channel(QUEUE);
        let kick = Arc::new(Notify::new());
        let conn_id = new_id();
        let tool_events = hello.caps.iter().any(|c| c == "tool-events");
        let reads = hello.role == "operator" && ConnCtx::new(0, &hello.scopes).reads();
        let id = self.instance.lock().conns.insert(ConnEntry {
            tx,
            read: reads,
            tool_events,
            subscribed: false,
            kick: Arc::clone(&kick),
        });
        let _registration = Registration {
            instance: Arc::clone(&self.instance),
            id,
        };
        let ctx = ConnCtx::new(id, &hello.scopes);
        let health = health_payload(&self.instance);
        let hello_frame = res_ok(
            &req_id,
            hello_ok(&self.instance, &conn_id, &hello, health.clone()),
        );
        if self.send_json(&hello_frame).await.is_err() {
            return;
        }
        if self
            .send_event("health", &health.to_string())
            .await
            .is_err()
        {
            return;
        }
        tracing::debug!(conn = id, client = %hello.client_id, "connected");
        let _ = self.serve(&ctx, rx, &kick, &mut control).await;
    }

    /// Waits for a valid `connect`; answers and closes on anything else.
    async fn handshake(
        &mut self,
        control: &mut tokio::sync::watch::Receiver<Control>,
    ) -> Option<(String, Hello)> {
        let limit = self.instance.shared.config.handshake_limit();
        let timeout = tokio::time::sleep(limit);
        tokio::pin!(timeout);
        let shared = Arc::clone(&self.instance.shared);
        let refused = || Counters::bump(&shared.counters.handshakes_refused);
        loop {
            let message = tokio::select! {
                message = self.ws.next() => message,
                () = &mut timeout => {
                    if self.hung() {
                        // A hung gateway does not even time clients out.
                        timeout.as_mut().reset(Instant::now() + limit);
                        continue;
                    }
                    self.close(1008, "handshake timeout").await;
                    return None;
                }
                mode = stopped(control) => {
                    if mode == Mode::Graceful {
                        self.close(1012, "service restart").await;
                    }
                    return None;
                }
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    if self.hung() {
                        continue;
                    }
                    let req: Request = match parse_request(&text) {
                        Ok(req) => req,
                        Err(e) => {
                            refused();
                            self.refuse_frame(e).await;
                            return None;
                        }
                    };
                    return match check_connect(&self.instance, &req) {
                        Ok(hello) => Some((req.id, hello)),
                        Err(refusal) => {
                            refused();
                            tracing::debug!(error = %refusal.error.message, "handshake refused");
                            if self
                                .send_json(&res_err(&req.id, &refusal.error))
                                .await
                                .is_ok()
                            {
                                self.close(refusal.close_code, refusal.close_reason).await;
                            }
                            None
                        }
                    };
                }
                Some(Ok(Message::Binary(_))) => {
                    refused();
                    self.close(1008, "invalid handshake").await;
                    return None;
                }
                Some(Ok(Message::Close(_))) => {
                    let _ = self.ws.flush().await;
                    return None;
                }
                Some(Ok(Message::Ping(_))) => {
                    // tungstenite queues the pong; send it now rather than with the next frame.
                    if !self.hung() && self.ws.flush().await.is_err() {
                        return None;
                    }
                }
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The main loop of a handshaken connection.
    async fn serve(
        &mut self,
        ctx: &ConnCtx,
        mut rx: mpsc::Receiver<Outbound>,
        kick: &Notify,
        control: &mut tokio::sync::watch::Receiver<Control>,
    ) -> Result<(), Gone> {
        let every = self.instance.shared.config.tick();
        let mut tick = tokio::time::interval_at(Instant::now() + every, every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut waits: JoinSet<Value> = JoinSet::new();
        loop {
            tokio::select! {
                incoming = self.ws.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if self.hung() {
                            continue;
                        }
                        match parse_request(&text) {
                            Ok(req) => self.handle(req, ctx, &mut rx, &mut waits).await?,
                            Err(e) => {
                                self.refuse_frame(e).await;
                                return Ok(());
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        self.close(1008, "invalid request frame").await;
                        return Ok(());
                    }
                    Some(Ok(Message::Close(_))) => {
                        let _ = self.ws.flush().await;
                        return Ok(());
                    }
                    Some(Ok(Message::Ping(_))) => {
                        if !self.hung() {
                            self.ws.flush().await.map_err(|_| Gone)?;
                        }
                    }
                    None | Some(Err(_)) => return Ok(()),
                    Some(Ok(_)) => {}
                },
                Some(out) = rx.recv() => {
                    if !self.hung() {
                        self.send_event(out.name, &out.payload).await?;
                    }
                }
                _ = tick.tick() => {
                    if !self.hung() {
                        let payload = json!({"ts": now_ms()}).to_string();
                        self.send_event("tick", &payload).await?;
                    }
                }
                Some(done) = waits.join_next(), if !waits.is_empty() => {
                    if let Ok(frame) = done && !self.hung() {
                        self.flush_events(&mut rx).await?;
                        self.send_json(&frame).await?;
                    }
                }
                () = kick.notified() => {
                    tracing::debug!(conn = ctx.id, "dropping the connection abruptly");
                    return Ok(());
                }
                mode = stopped(control) => {
                    if mode == Mode::Graceful {
                        let payload = json!({"reason": "gateway stopping"}).to_string();
                        self.send_event("shutdown", &payload).await?;
                        self.close(1012, "service restart").await;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Writes the events queued so far (so that a `res` follows the events its request caused).
    async fn flush_events(&mut self, rx: &mut mpsc::Receiver<Outbound>) -> Result<(), Gone> {
        while let Ok(out) = rx.try_recv() {
            self.send_event(out.name, &out.payload).await?;
        }
        Ok(())
    }

    async fn handle(
        &mut self,
        req: Request,
        ctx: &ConnCtx,
        rx: &mut mpsc::Receiver<Outbound>,
        waits: &mut JoinSet<Value>,
    ) -> Result<(), Gone> {
        match dispatch(&self.instance, ctx, req) {
            Dispatch::Reply { frame, start } => {
                let sent = match self.flush_events(rx).await {
                    Ok(()) => self.send_json(&frame).await,
                    Err(gone) => Err(gone),
                };
                // An accepted run runs even if its requester is gone, as on the real gateway.
                if let Some(run_id) = start {
                    crate::runs::spawn(&self.instance, run_id);
                }
                sent?;
            }
            Dispatch::Later(pending) => {
                waits.spawn(pending);
            }
        }
        Ok(())
    }
}
