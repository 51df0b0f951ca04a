//! [`Client::events`]: the `/events` WebSocket as a stream of [`EventMessage`]s.

use futures_util::{SinkExt, Stream, StreamExt, stream};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::call::api_error;
use super::error::ClientError;
use super::model::EventMessage;
use super::{CONNECT_TIMEOUT, Client, Credential};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where the stream is.
enum State {
    /// Not connected yet.
    Start(Connect),
    /// Subscribed and reading.
    Open(Box<Socket>, String),
    /// Ended (closed by the server, or failed).
    Done,
}

/// What connecting needs.
struct Connect {
    url: Result<String, ClientError>,
    credential: Option<Credential>,
    patterns: Vec<String>,
}

impl Client {
    /// The `/events` WebSocket: connects (authenticating like every request), subscribes to
    /// `patterns` (e.g. `task.*`) and yields each `{"type":"event"}` message. Subscription
    /// acknowledgements and other control messages are skipped, pings are answered. The
    /// stream ends when the server closes the socket; a failure is yielded once as an `Err`
    /// (an error message from the server is yielded and reading goes on).
    ///
    /// Connecting happens on the first poll, so no event before that is seen.
    pub fn events(
        &self,
        patterns: &[&str],
    ) -> impl Stream<Item = Result<EventMessage, ClientError>> + Send + 'static {
        let connect = Connect {
            url: self.events_url(),
            credential: self.credential.clone(),
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        };
        stream::unfold(State::Start(connect), |state| async move {
            let (item, next) = step(state).await?;
            Some((item, next))
        })
    }

    /// Like [`Client::events`], but connects and waits until the server acknowledged the
    /// subscription (`{"type":"subscribed"}`) before answering: every event published after
    /// this returns is in the stream. Use it to watch something you are about to cause.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the server cannot be reached (or the handshake takes
    /// over 5 s); [`ClientError::Api`] when it refuses the upgrade (e.g. 401);
    /// [`ClientError::Stream`] when it closes, reports an error or does not acknowledge
    /// within 5 s.
    pub async fn subscribe(
        &self,
        patterns: &[&str],
    ) -> Result<impl Stream<Item = Result<EventMessage, ClientError>> + Send + 'static, ClientError>
    {
        let connect = Connect {
            url: self.events_url(),
            credential: self.credential.clone(),
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        };
        let (mut socket, url) = open(connect).await?;
        match tokio::time::timeout(CONNECT_TIMEOUT, acknowledged(&mut socket, &url)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(ClientError::Stream {
                    url,
                    message: "the server did not acknowledge the subscription within 5 s".into(),
                });
            }
        }
        Ok(stream::unfold(
            State::Open(Box::new(socket), url),
            |state| async move {
                let (item, next) = step(state).await?;
                Some((item, next))
            },
        ))
    }

    /// `ws(s)://<base>/events`.
    fn events_url(&self) -> Result<String, ClientError> {
        let mut url = self.url(&["events".to_owned()])?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|()| ClientError::invalid_url(url.as_str(), "cannot be a WebSocket URL"))?;
        Ok(url.into())
    }
}

/// Advances the stream to its next item; `None` when it has ended.
async fn step(mut state: State) -> Option<(Result<EventMessage, ClientError>, State)> {
    loop {
        state = match state {
            State::Done => return None,
            State::Start(connect) => match open(connect).await {
                Ok((socket, url)) => State::Open(Box::new(socket), url),
                Err(e) => return Some((Err(e), State::Done)),
            },
            State::Open(mut socket, url) => match socket.next().await? {
                Ok(Message::Text(text)) => match parse(&url, text.as_str()) {
                    Some(item) => return Some((item, State::Open(socket, url))),
                    None => State::Open(socket, url),
                },
                Ok(Message::Ping(payload)) => {
                    if let Err(e) = socket.send(Message::Pong(payload)).await {
                        return Some((Err(stream_error(&url, &e)), State::Done));
                    }
                    State::Open(socket, url)
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => State::Open(socket, url),
                Err(e) => return Some((Err(stream_error(&url, &e)), State::Done)),
            },
        };
    }
}

/// Connects, authenticates and subscribes.
async fn open(connect: Connect) -> Result<(Socket, String), ClientError> {
    let url = connect.url?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::invalid_url(&url, e))?;
    let header = match &connect.credential {
        Some(Credential::ApiKey(k)) => Some(("x-api-key", k.clone())),
        Some(Credential::Bearer(t)) => Some(("authorization", format!("Bearer {t}"))),
        None => None,
    };
    if let Some((name, value)) = header {
        let value = HeaderValue::from_str(&value)
            .map_err(|_| ClientError::invalid_url(&url, "the credential is not a valid header"))?;
        request.headers_mut().insert(name, value);
    }
    let connected =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request)).await;
    let (mut socket, _) = match connected {
        Err(_) => {
            return Err(ClientError::Connect {
                url,
                source: "timed out opening the WebSocket".into(),
            });
        }
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = response.body().as_deref().unwrap_or_default();
            return Err(api_error(status, &url, body));
        }
        Ok(Err(e)) => {
            return Err(ClientError::Connect {
                url,
                source: e.to_string().into(),
            });
        }
        Ok(Ok(connected)) => connected,
    };
    let subscribe = json!({ "action": "subscribe", "patterns": connect.patterns });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .map_err(|e| stream_error(&url, &e))?;
    Ok((socket, url))
}

/// Reads frames until the subscription is acknowledged.
async fn acknowledged(socket: &mut Socket, url: &str) -> Result<(), ClientError> {
    loop {
        let closed = || ClientError::Stream {
            url: url.to_owned(),
            message: "the server closed the stream before acknowledging the subscription".into(),
        };
        match socket.next().await.ok_or_else(closed)? {
            Ok(Message::Text(text)) => {
                let value: Value =
                    serde_json::from_str(text.as_str()).map_err(|e| ClientError::decode(url, e))?;
                match value.get("type").and_then(Value::as_str) {
                    Some("subscribed") => return Ok(()),
                    Some("error") => {
                        if let Some(Err(e)) = parse(url, text.as_str()) {
                            return Err(e);
                        }
                    }
                    _ => {}
                }
            }
            Ok(Message::Ping(payload)) => socket
                .send(Message::Pong(payload))
                .await
                .map_err(|e| stream_error(url, &e))?,
            Ok(Message::Close(_)) => return Err(closed()),
            Ok(_) => {}
            Err(e) => return Err(stream_error(url, &e)),
        }
    }
}

/// One text message: an event, a server error, or `None` for control messages to skip.
fn parse(url: &str, text: &str) -> Option<Result<EventMessage, ClientError>> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(Err(ClientError::decode(url, e))),
    };
    match value.get("type").and_then(Value::as_str) {
        Some("event") => {
            Some(serde_json::from_value(value).map_err(|e| ClientError::decode(url, e)))
        }
        Some("error") => {
            let message = value
                .get("message")
                .or_else(|| value.pointer("/error/message"))
                .and_then(Value::as_str)
                .unwrap_or("the server reported an error")
                .to_owned();
            Some(Err(ClientError::Stream {
                url: url.to_owned(),
                message,
            }))
        }
        _ => None,
    }
}

fn stream_error(url: &str, e: &tungstenite::Error) -> ClientError {
    ClientError::Stream {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_url_follows_the_base_scheme() {
        let c = Client::try_new("http://127.0.0.1:7373", None).unwrap();
        assert_eq!(c.events_url().unwrap(), "ws://127.0.0.1:7373/events");
        let s = Client::try_new("https://godel.example/p/", None).unwrap();
        assert_eq!(s.events_url().unwrap(), "wss://godel.example/p/events");
    }

    #[test]
    fn only_event_and_error_messages_surface() {
        assert!(parse("u", r#"{"type":"subscribed","patterns":["task.*"]}"#).is_none());
        let event = parse(
            "u",
            r#"{"type":"event","event":"task.created","id":"e","timestamp":"t","data":{}}"#,
        );
        assert_eq!(event.unwrap().unwrap().event, "task.created");
        let error = parse("u", r#"{"type":"error","message":"bad pattern"}"#);
        assert!(
            matches!(error, Some(Err(ClientError::Stream { message, .. })) if message == "bad pattern")
        );
        assert!(matches!(
            parse("u", "not json"),
            Some(Err(ClientError::Decode { .. }))
        ));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_one_connect_error() {
        // Port 9 (discard) on loopback: nothing listens there in a test environment.
        let c = Client::try_new("http://127.0.0.1:9", Some("dk_x".into())).unwrap();
        let items: Vec<_> = c.events(&["task.*"]).collect().await;
        assert_eq!(items.len(), 1);
        assert!(
            matches!(&items[0], Err(ClientError::Connect { url, .. }) if url.contains("127.0.0.1:9"))
        );
    }
}
