//! Test support: a raw protocol-v4 client over tokio-tungstenite (it checks the per-connection
//! `seq` of every event it reads), connect params, and the reader of the real captures in
//! `tests/data/` with the normalisation used to compare event sequences.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use godel_openclaw_sim::SimGateway;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long any single wait may take before the test fails (only to avoid hanging).
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// What the client read next.
#[derive(Debug)]
pub(crate) enum Frame {
    Json(Value),
    /// A close frame with its code and reason.
    Closed(u16, String),
    /// The connection ended without a close frame.
    Dropped,
}

pub(crate) struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Events read while waiting for something else, in arrival order.
    backlog: VecDeque<Value>,
    last_seq: u64,
    /// The `connect.challenge` payload.
    pub(crate) challenge: Value,
}

/// Params of a `connect` the real gateway accepts (backend client, every operator scope, tool
/// events).
pub(crate) fn connect_params(token: Option<&str>) -> Value {
    let mut params = json!({
        "minProtocol": 4,
        "maxProtocol": 4,
        "client": {
            "id": "gateway-client", "version": "0.1.0", "platform": "linux",
            "mode": "backend", "displayName": "godel",
        },
        "role": "operator",
        "scopes": ["operator.read", "operator.write", "operator.admin"],
        "caps": ["tool-events"],
        "userAgent": "godel-tests/0.1.0",
        "locale": "en-US",
    });
    if let Some(token) = token {
        params["auth"] = json!({"token": token});
    }
    params
}

/// `chat.send` params.
pub(crate) fn send_params(session_key: &str, message: &str, idempotency_key: &str) -> Value {
    json!({"sessionKey": session_key, "message": message, "idempotencyKey": idempotency_key})
}

/// A handshaken client with every scope and cap `tool-events`.
pub(crate) async fn connected(gateway: &SimGateway) -> Client {
    connected_with(&gateway.endpoint(), connect_params(gateway.token())).await
}

/// A handshaken client with these connect params; panics unless `hello-ok` comes back.
pub(crate) async fn connected_with(endpoint: &str, params: Value) -> Client {
    let mut client = Client::open(endpoint).await;
    let res = client.call("connect", params).await;
    assert_eq!(res["ok"], true, "connect refused: {res}");
    assert_eq!(res["payload"]["type"], "hello-ok");
    client
}

impl Client {
    /// Opens the WebSocket and reads the `connect.challenge`.
    pub(crate) async fn open(endpoint: &str) -> Client {
        let (ws, _) = tokio::time::timeout(WAIT, connect_async(endpoint))
            .await
            .expect("websocket connect timed out")
            .expect("websocket connect failed");
        let mut client = Client {
            ws,
            next_id: 1,
            backlog: VecDeque::new(),
            last_seq: 0,
            challenge: Value::Null,
        };
        let first = client.json().await;
        assert_eq!(first["type"], "event");
        assert_eq!(first["event"], "connect.challenge");
        assert!(first.get("seq").is_none(), "the challenge carries no seq");
        client.challenge = first["payload"].clone();
        client
    }

    /// The next frame from the wire (never the backlog).
    pub(crate) async fn frame(&mut self) -> Frame {
        self.frame_within(WAIT)
            .await
            .expect("no frame from the gateway within the test timeout")
    }

    /// The next frame from the wire, or `None` if nothing came within `within`.
    pub(crate) async fn frame_within(&mut self, within: Duration) -> Option<Frame> {
        loop {
            let next = tokio::time::timeout(within, self.ws.next()).await.ok()?;
            return Some(match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("frame is JSON");
                    if value["type"] == "event"
                        && let Some(seq) = value.get("seq").and_then(Value::as_u64)
                    {
                        assert_eq!(
                            seq,
                            self.last_seq + 1,
                            "event seq must count up by one: {value}"
                        );
                        self.last_seq = seq;
                    }
                    Frame::Json(value)
                }
                Some(Ok(Message::Close(close))) => {
                    // Complete the close handshake as a well-behaved client does.
                    let _ = self.ws.flush().await;
                    match close {
                        Some(close) => Frame::Closed(close.code.into(), close.reason.to_string()),
                        None => Frame::Closed(1005, String::new()),
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(_))) => panic!("the gateway sent a binary frame"),
                Some(Err(_)) | None => Frame::Dropped,
            });
        }
    }

    /// The next JSON frame from the wire; panics on a close.
    pub(crate) async fn json(&mut self) -> Value {
        match self.frame().await {
            Frame::Json(value) => value,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    pub(crate) async fn send_text(&mut self, text: String) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("send to the gateway");
    }

    /// Sends a request and returns its id.
    pub(crate) async fn request(&mut self, method: &str, params: Value) -> String {
        let id = self.next_id.to_string();
        self.next_id += 1;
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.send_text(frame.to_string()).await;
        id
    }

    /// Waits for the `res` with this id; events read meanwhile go to the backlog.
    pub(crate) async fn response(&mut self, id: &str) -> Value {
        loop {
            let frame = self.json().await;
            if frame["type"] == "res" && frame["id"] == id {
                return frame;
            }
            assert_eq!(frame["type"], "event", "unexpected frame {frame}");
            self.backlog.push_back(frame);
        }
    }

    /// A request and its `res`.
    pub(crate) async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params).await;
        self.response(&id).await
    }

    /// A request whose `res` must be ok; returns the payload.
    pub(crate) async fn ok(&mut self, method: &str, params: Value) -> Value {
        let res = self.call(method, params).await;
        assert_eq!(res["ok"], true, "{method} failed: {res}");
        res["payload"].clone()
    }

    /// The first event (backlog first) matching `pred`; other events stay in the backlog.
    pub(crate) async fn event(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(pos) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(pos).expect("position is in range");
        }
        loop {
            let frame = self.json().await;
            assert_eq!(frame["type"], "event", "unexpected frame {frame}");
            if pred(&frame) {
                return frame;
            }
            self.backlog.push_back(frame);
        }
    }

    /// The `agent`/`chat` events of one run, in order (backlog first), up to and including the
    /// first one matching `last`.
    pub(crate) async fn run_events(
        &mut self,
        run_id: &str,
        last: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let event = self
                .event(|e| {
                    (e["event"] == "agent" || e["event"] == "chat")
                        && e["payload"]["runId"] == run_id
                })
                .await;
            let done = last(&event);
            events.push(event);
            if done {
                return events;
            }
        }
    }

    /// Skips frames until the connection closes; returns the close code and reason, or `None` if
    /// it ended without a close frame.
    pub(crate) async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            match self.frame().await {
                Frame::Json(value) => self.backlog.push_back(value),
                Frame::Closed(code, reason) => return Some((code, reason)),
                Frame::Dropped => return None,
            }
        }
    }

    /// Sends a WebSocket ping and waits for its pong (frames read meanwhile go to the backlog).
    pub(crate) async fn ping(&mut self, payload: &'static [u8]) {
        self.ws
            .send(Message::Ping(payload.into()))
            .await
            .expect("send ping");
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("no pong within the test timeout");
            match next {
                Some(Ok(Message::Pong(data))) => {
                    assert_eq!(&data[..], payload);
                    return;
                }
                Some(Ok(Message::Text(text))) => {
                    self.backlog
                        .push_back(serde_json::from_str(&text).expect("JSON"));
                }
                other => panic!("expected a pong, got {other:?}"),
            }
        }
    }

    /// Events left in the backlog.
    pub(crate) fn backlog(&self) -> impl Iterator<Item = &Value> {
        self.backlog.iter()
    }
}

/// True for the chat event that ends a run (`final`, `aborted`, `error`).
pub(crate) fn is_chat_terminal(event: &Value) -> bool {
    event["event"] == "chat"
        && ["final", "aborted", "error"].contains(&event["payload"]["state"].as_str().unwrap_or(""))
}

/// An agent or chat event as a comparable token: `agent:<stream>:<phase>` (the settling
/// lifecycle `model` with null provider is `model-null`), `chat:<state>:<phase>`, and chat events
/// without `agentId` (the detached ones) end in `:detached`.
pub(crate) fn token(event: &Value) -> String {
    let p = &event["payload"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    if event["event"] == "agent" {
        let data = &p["data"];
        let mut phase = text(&data["phase"]);
        if phase == "model" && data["provider"].is_null() {
            phase = "model-null".to_owned();
        }
        format!("agent:{}:{phase}", text(&p["stream"]))
    } else {
        let detached = if p.get("agentId").is_none() {
            ":detached"
        } else {
            ""
        };
        format!("chat:{}:{}{detached}", text(&p["state"]), text(&p["phase"]))
    }
}

/// Tokens with every run of consecutive assistant/delta events collapsed into `STREAM`, so that
/// sequences compare modulo the number of deltas.
pub(crate) fn normalise(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for event in events {
        let token = token(event);
        let streaming = token == "agent:assistant:" || token == "chat:delta:";
        if streaming {
            if out.last().is_none_or(|t| t != "STREAM") {
                out.push("STREAM".to_owned());
            }
        } else {
            out.push(token);
        }
    }
    out
}

/// The frames of a capture in `tests/data/`, as `(direction, frame)`.
pub(crate) fn capture(name: &str) -> Vec<(String, Value)> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    text.lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).expect("capture line is JSON");
            (
                record["dir"].as_str().unwrap_or("").to_owned(),
                record["frame"].clone(),
            )
        })
        .collect()
}

/// The agent/chat events the real gateway sent for a run, in order.
pub(crate) fn capture_run_events(name: &str, run_id: &str) -> Vec<Value> {
    capture(name)
        .into_iter()
        .filter(|(dir, f)| {
            dir == "in"
                && f["type"] == "event"
                && (f["event"] == "agent" || f["event"] == "chat")
                && f["payload"]["runId"] == run_id
        })
        .map(|(_, f)| f)
        .collect()
}

/// The run id of the first `chat.send` in a capture.
pub(crate) fn capture_first_run(name: &str) -> String {
    capture(name)
        .into_iter()
        .find(|(dir, f)| dir == "out" && f["method"] == "chat.send")
        .and_then(|(_, f)| f["params"]["idempotencyKey"].as_str().map(str::to_owned))
        .expect("the capture sends a chat.send")
}

/// Waits for `condition` to hold, polling every 10 ms, for at most [`WAIT`].
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A plain HTTP GET on the gateway port: `(status, body)`.
pub(crate) async fn http_get(gateway: &SimGateway, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(gateway.addr())
        .await
        .expect("tcp connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut raw = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut raw))
        .await
        .expect("http response timed out")
        .expect("read response");
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}
