//! A scripted gateway for the client tests: a WebSocket server on a random loopback port that
//! hands each accepted connection to the test, which plays the gateway's side frame by frame
//! (mostly frames captured from the real gateway, `tests/data/*.jsonl`).

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use godel_lifecycle::{
    Gateway as _, GatewayError, GatewayHealth, GatewayTarget, RunEvent, RunEvents,
};
use godel_openclaw::{OpenClawConfig, OpenClawGateway};
use godel_types::InstanceId;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long a test waits for anything before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The token the scripted gateway expects.
pub const TOKEN: &str = "godel-test-token-0123456789";

/// A scripted gateway listening on loopback.
pub struct Server {
    pub endpoint: String,
    connections: mpsc::UnboundedReceiver<Conn>,
    accept: JoinHandle<()>,
}

impl Server {
    /// Listens on a random port; every connection is upgraded and queued for the test.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("ws://{}", listener.local_addr().expect("address"));
        let (tx, connections) = mpsc::unbounded_channel();
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                        let _ = tx.send(Conn { ws });
                    }
                });
            }
        });
        Self {
            endpoint,
            connections,
            accept,
        }
    }

    /// The next connection the client opens.
    pub async fn next_conn(&mut self) -> Conn {
        tokio::time::timeout(PATIENCE, self.connections.recv())
            .await
            .expect("the client should connect")
            .expect("the server is listening")
    }

    /// A connection accepted and handshaken with `hello_ok(tick_ms)`.
    pub async fn handshaken(&mut self, tick_ms: u64) -> Conn {
        let mut conn = self.next_conn().await;
        conn.handshake(tick_ms).await;
        conn
    }

    /// Whether the client opens another connection within `wait`.
    pub async fn connects_within(&mut self, wait: Duration) -> Option<Conn> {
        tokio::time::timeout(wait, self.connections.recv())
            .await
            .ok()
            .flatten()
    }

    /// Stops listening (connections already open stay).
    pub fn stop_listening(&self) {
        self.accept.abort();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The gateway's side of one connection.
pub struct Conn {
    ws: WebSocketStream<TcpStream>,
}

impl Conn {
    /// Sends a frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        let _ = self.ws.send(Message::text(text.to_owned())).await;
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        let _ = self.ws.send(Message::binary(bytes.to_vec())).await;
    }

    /// The next text frame from the client as JSON; `None` once the client closed.
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("the client should send something")?;
            match message {
                Ok(Message::Text(text)) => {
                    return Some(
                        serde_json::from_str(text.as_str()).expect("JSON from the client"),
                    );
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The close code the client ends the connection with (`None`: no close frame).
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("the client should close")?;
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next request from the client.
    pub async fn recv_req(&mut self) -> Value {
        let frame = self.recv().await.expect("a request, not a close");
        assert_eq!(frame["type"], "req", "{frame}");
        frame
    }

    /// The next request, which must be `method`.
    pub async fn expect(&mut self, method: &str) -> Value {
        let req = self.recv_req().await;
        assert_eq!(req["method"], method, "{req}");
        req
    }

    /// Sends `connect.challenge`.
    pub async fn challenge(&mut self) {
        self.send(
            json!({"type": "event", "event": "connect.challenge", "payload": {
            "nonce": "13b58297-aaa8-4d9e-b0ef-b3358fe1f095", "ts": 1_795_234_688_142_u64,
            "capabilities": ["model-catalog-snapshot"]}}),
        )
        .await;
    }

    /// Plays a good handshake; returns the client's `connect` request.
    pub async fn handshake(&mut self, tick_ms: u64) -> Value {
        self.challenge().await;
        let connect = self.expect("connect").await;
        self.reply_ok(&connect, hello_ok(tick_ms)).await;
        connect
    }

    /// Answers `req` with `payload`.
    pub async fn reply_ok(&mut self, req: &Value, payload: Value) {
        self.send(json!({"type": "res", "id": req["id"], "ok": true, "payload": payload}))
            .await;
    }

    /// Answers `req` with `error`.
    pub async fn reply_err(&mut self, req: &Value, error: Value) {
        self.send(json!({"type": "res", "id": req["id"], "ok": false, "error": error}))
            .await;
    }

    /// Closes with `code`.
    pub async fn close(&mut self, code: u16, reason: &str) {
        let _ = self
            .ws
            .close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            }))
            .await;
    }

    /// Sends a `tick`.
    pub async fn tick(&mut self) {
        self.send(json!({"type": "event", "event": "tick", "payload": {"ts": 1}}))
            .await;
    }
}

/// The real `hello-ok` (captured), with `policy.tickIntervalMs` set to `tick_ms`.
pub fn hello_ok(tick_ms: u64) -> Value {
    let mut payload = capture("hello_nodevice_backend")
        .into_iter()
        .find(|f| f["type"] == "res" && f["id"] == "1")
        .expect("hello-ok in the capture")["payload"]
        .take();
    payload["policy"]["tickIntervalMs"] = json!(tick_ms);
    payload
}

/// Every frame of `tests/data/<name>.jsonl` (both directions), in order.
pub fn capture(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/data/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("capture file");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("capture line"))
        .filter(|r| r["dir"] == "in" || r["dir"] == "out")
        .map(|mut r| r["frame"].take())
        .collect()
}

/// The result payload of the response to the captured request with `method`.
pub fn captured_result(name: &str, method: &str) -> Value {
    let frames = capture(name);
    let id = frames
        .iter()
        .find(|f| f["type"] == "req" && f["method"] == method)
        .expect("request in the capture")["id"]
        .clone();
    frames
        .into_iter()
        .find(|f| f["type"] == "res" && f["id"] == id)
        .expect("response in the capture")["payload"]
        .take()
}

/// The `agent` and `chat` events of the capture's run (the first `chat.send`), renamed to
/// `run`, in order.
pub fn run_events(name: &str, run: &str) -> Vec<Value> {
    let frames = capture(name);
    let original = frames
        .iter()
        .find(|f| f["type"] == "req" && f["method"] == "chat.send")
        .expect("chat.send in the capture")["params"]["idempotencyKey"]
        .as_str()
        .expect("idempotency key")
        .to_owned();
    frames
        .into_iter()
        .filter(|f| f["type"] == "event" && (f["event"] == "agent" || f["event"] == "chat"))
        .filter(|f| f["payload"]["runId"] == original.as_str())
        .map(|f| {
            serde_json::from_str(&f.to_string().replace(&original, run)).expect("renamed frame")
        })
        .collect()
}

/// Events of the capture that belong to no run (`sessions.changed`, `session.message`, ...).
pub fn noise(name: &str) -> Vec<Value> {
    capture(name)
        .into_iter()
        .filter(|f| f["type"] == "event" && f["event"] != "agent" && f["event"] != "chat")
        .filter(|f| f["event"] != "connect.challenge")
        .collect()
}

/// A configuration with short timeouts and backoffs for tests.
pub fn config() -> OpenClawConfig {
    OpenClawConfig {
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        handshake_retries: 5,
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        backoff_jitter: 0.1,
        missed_ticks: 2,
        confirm_timeout: Duration::from_millis(200),
        resume_window: Duration::from_secs(5),
        ..OpenClawConfig::default()
    }
}

/// Probes `gateway`'s health in a task of its own (so the test can play the gateway's side
/// meanwhile); the task hands the client back with the answer.
pub fn probe_health(
    gateway: OpenClawGateway,
) -> JoinHandle<(OpenClawGateway, Result<GatewayHealth, GatewayError>)> {
    tokio::spawn(async move {
        let health = gateway.health().await;
        (gateway, health)
    })
}

/// The target of `endpoint` with the test token.
pub fn target(endpoint: &str) -> GatewayTarget {
    GatewayTarget {
        instance: InstanceId::from_u128(7),
        endpoint: endpoint.to_owned(),
        token: Some(TOKEN.to_owned()),
    }
}

/// Every event of a run until its stream ends.
pub async fn collect(events: &mut Box<dyn RunEvents>) -> Vec<RunEvent> {
    let mut all = Vec::new();
    loop {
        match tokio::time::timeout(PATIENCE, events.next()).await {
            Ok(Some(event)) => all.push(event),
            Ok(None) => return all,
            Err(_) => panic!("the run's stream did not end; so far {all:?}"),
        }
    }
}

/// The terminal events among `events`.
pub fn terminals(events: &[RunEvent]) -> Vec<&RunEvent> {
    events.iter().filter(|e| e.is_terminal()).collect()
}

/// The text of the deltas among `events`.
pub fn text(events: &[RunEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Waits until `condition` holds on the client's status, or fails.
pub async fn until_status(
    status: &mut tokio::sync::watch::Receiver<godel_openclaw::client::ConnectionStatus>,
    what: &str,
    condition: impl Fn(&godel_openclaw::client::ConnectionStatus) -> bool,
) {
    let waited = tokio::time::timeout(PATIENCE, status.wait_for(|s| condition(s)))
        .await
        .map(|r| r.is_ok());
    let now = status.borrow().clone();
    assert!(
        matches!(waited, Ok(true)),
        "status never became {what}; it is {now:?}"
    );
}
