//! The WebSocket itself: opening it, reading one frame, writing one, closing it. Transport
//! errors leave here as [`GatewayError`]s.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use godel_lifecycle::GatewayError;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{ProtocolError, from_close, from_transport};
use crate::protocol::{Frame, decode};

/// An open connection to a gateway.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a graceful close may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Checks that `endpoint` is a `ws://host[:port][/path]` URL.
///
/// # Errors
/// [`GatewayError::Protocol`] otherwise (`wss://` needs TLS, which this build leaves out).
pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), GatewayError> {
    let uri: Uri = endpoint
        .parse()
        .map_err(|e| GatewayError::Protocol(format!("bad gateway endpoint {endpoint:?}: {e}")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("ws"), Some(host)) if !host.is_empty() => Ok(()),
        (Some("wss"), _) => Err(GatewayError::Protocol(format!(
            "gateway endpoint {endpoint:?}: wss:// is not supported (no TLS in this build)"
        ))),
        _ => Err(GatewayError::Protocol(format!(
            "bad gateway endpoint {endpoint:?}: expected ws://host:port"
        ))),
    }
}

/// Opens the socket (TCP and WebSocket upgrade) within `timeout`.
pub(crate) async fn open(
    endpoint: &str,
    max_message_bytes: usize,
    timeout: Duration,
) -> Result<Socket, GatewayError> {
    let max = max_message_bytes.max(1024);
    let config = WebSocketConfig::default()
        .read_buffer_size(32 * 1024)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let connecting = tokio_tungstenite::connect_async_with_config(endpoint, Some(config), true);
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(GatewayError::unavailable(format!(
            "no websocket connection to {endpoint} within {timeout:?}"
        ))),
        Ok(Err(e)) => Err(from_transport(&e)),
        Ok(Ok((socket, _response))) => Ok(socket),
    }
}

/// What one read from the socket gave.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A frame.
    Frame(Frame),
    /// Nothing for the protocol (ping, pong).
    Nothing,
    /// A frame that breaks the protocol: the connection must be reset.
    Malformed(ProtocolError),
    /// The connection ended, with why.
    Ended(GatewayError),
}

/// Classifies what `socket.next()` returned.
pub(crate) fn classify(
    read: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Incoming {
    match read {
        None => Incoming::Ended(GatewayError::unavailable("the connection closed")),
        Some(Err(e)) => Incoming::Ended(from_transport(&e)),
        Some(Ok(Message::Text(text))) => match decode(text.as_str()) {
            Ok(frame) => Incoming::Frame(frame),
            Err(e) => Incoming::Malformed(e),
        },
        Some(Ok(Message::Binary(_))) => {
            Incoming::Malformed(ProtocolError::Malformed("binary frame".into()))
        }
        Some(Ok(Message::Close(frame))) => Incoming::Ended(match frame {
            Some(f) => from_close(Some(u16::from(f.code)), f.reason.as_str()),
            None => from_close(None, ""),
        }),
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Incoming::Nothing,
    }
}

/// Reads the next frame, skipping pings.
pub(crate) async fn read(socket: &mut Socket) -> Result<Frame, GatewayError> {
    loop {
        match classify(socket.next().await) {
            Incoming::Frame(frame) => return Ok(frame),
            Incoming::Nothing => {}
            Incoming::Malformed(e) => return Err(e.into()),
            Incoming::Ended(e) => return Err(e),
        }
    }
}

/// Writes one text frame within `timeout`.
pub(crate) async fn write(
    socket: &mut Socket,
    text: String,
    timeout: Duration,
) -> Result<(), GatewayError> {
    match tokio::time::timeout(timeout, socket.send(Message::text(text))).await {
        Err(_) => Err(GatewayError::unavailable(format!(
            "writing to the gateway took over {timeout:?}"
        ))),
        Ok(Err(e)) => Err(from_transport(&e)),
        Ok(Ok(())) => Ok(()),
    }
}

/// Closes the connection politely (best effort, bounded in time).
pub(crate) async fn close(socket: &mut Socket, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(Some(frame))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_plain_websocket_urls() {
        assert!(check_endpoint("ws://127.0.0.1:18789").is_ok());
        assert!(check_endpoint("ws://gw.internal:18789/").is_ok());
        for bad in [
            "",
            "127.0.0.1:18789",
            "http://127.0.0.1:1",
            "wss://gw:1",
            "ws://",
            "not a url",
        ] {
            assert!(
                matches!(check_endpoint(bad), Err(GatewayError::Protocol(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn incoming_messages_are_classified() {
        assert!(matches!(
            classify(None),
            Incoming::Ended(GatewayError::Unavailable { .. })
        ));
        assert!(matches!(
            classify(Some(Ok(Message::text("{bad")))),
            Incoming::Malformed(_)
        ));
        assert!(matches!(
            classify(Some(Ok(Message::binary(vec![1u8])))),
            Incoming::Malformed(_)
        ));
        assert!(matches!(
            classify(Some(Ok(Message::Ping(vec![].into())))),
            Incoming::Nothing
        ));
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode::Restart,
            reason: "service restart".into(),
        }));
        assert!(matches!(
            classify(Some(Ok(close))),
            Incoming::Ended(GatewayError::Unavailable { .. })
        ));
        let ok = Message::text(r#"{"type":"event","event":"tick","payload":{}}"#);
        assert!(matches!(
            classify(Some(Ok(ok))),
            Incoming::Frame(Frame::Event(_))
        ));
    }
}
