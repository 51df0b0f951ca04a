//! [`EventStream`]: a WebSocket client of `/events` (`tokio-tungstenite`), authenticated with
//! the `X-API-Key` header, that subscribes and then hands out the `event` frames.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A subscribed `/events` connection.
#[derive(Debug)]
pub struct EventStream {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every event frame received so far, in order.
    seen: Vec<Value>,
}

impl EventStream {
    /// Connects to `<base>/events` with `key` and subscribes to `patterns`; returns once the
    /// server acknowledged the subscription.
    ///
    /// # Panics
    /// When the connection fails or the server does not acknowledge within 20 s.
    pub async fn connect(base: &str, key: &str, patterns: &[&str]) -> Self {
        let url = format!("{}/events", base.replacen("http://", "ws://", 1));
        let mut request = url
            .as_str()
            .into_client_request()
            .expect("a WebSocket request");
        request.headers_mut().insert(
            "X-API-Key",
            HeaderValue::from_str(key).expect("a header value"),
        );
        let (socket, _) = tokio::time::timeout(
            Duration::from_secs(20),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .unwrap_or_else(|_| panic!("connecting to {url} timed out"))
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        let mut stream = Self {
            socket,
            seen: Vec::new(),
        };
        let subscribe = json!({ "action": "subscribe", "patterns": patterns });
        stream
            .socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("send the subscription");
        let ack = stream
            .next_frame(Duration::from_secs(20))
            .await
            .expect("an answer to the subscription");
        assert_eq!(
            ack["type"], "subscribed",
            "the server answered {subscribe} with {ack}"
        );
        stream
    }

    /// The next frame of any type, as JSON; `None` after `limit` or when the server closed.
    ///
    /// # Panics
    /// When a text frame is not JSON.
    pub async fn next_frame(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => {
                    let frame: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("a frame that is not JSON ({e}): {text}"));
                    return Some(frame);
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// The next `event` frame; `None` after `limit`.
    pub async fn next_event(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.next_frame(left).await?;
            if frame["type"] == "event" {
                self.seen.push(frame.clone());
                return Some(frame);
            }
        }
    }

    /// Collects the events of task `task_id` (those whose `data.id` is it) until one named
    /// `last` arrives; their names, in order.
    ///
    /// # Panics
    /// When `last` does not arrive within `limit` (showing what did).
    pub async fn task_events_until(
        &mut self,
        task_id: &str,
        last: &str,
        limit: Duration,
    ) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut names = names_for(&self.seen, task_id);
        if names.iter().any(|n| n == last) {
            return names;
        }
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(event) = self.next_event(left).await else {
                panic!(
                    "no `{last}` event for task {task_id} within {limit:?}; its events: {names:?}"
                );
            };
            if event["data"]["id"] == task_id {
                let name = event["event"].as_str().unwrap_or_default().to_owned();
                names.push(name.clone());
                if name == last {
                    return names;
                }
            }
        }
    }

    /// Every event frame received so far.
    #[must_use]
    pub fn seen(&self) -> &[Value] {
        &self.seen
    }
}

/// The names of the events in `events` whose `data.id` is `task_id`, in order.
#[must_use]
pub fn names_for(events: &[Value], task_id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["data"]["id"] == task_id)
        .filter_map(|e| e["event"].as_str().map(str::to_owned))
        .collect()
}
