//! The connect handshake: open the socket, wait for `connect.challenge`, send `connect`,
//! expect `hello-ok`. A gateway still booting answers `UNAVAILABLE` with `retryAfterMs`: the
//! handshake is retried after that delay, up to `handshake_retries` times.

use std::sync::Arc;

use godel_lifecycle::GatewayError;
use serde::Deserialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::config::OpenClawConfig;
use super::socket::{self, Socket};
use super::trace;
use crate::error::{ProtocolError, from_response};
use crate::protocol::{
    ConnectParams, Frame, GatewayEvent, HelloOk, PROTOCOL_VERSION, Request, method,
};

/// The id of the `connect` request (other requests use numbers).
const CONNECT_ID: &str = "connect";

/// Where to connect and with what token.
#[derive(Clone)]
pub(crate) struct Target {
    /// `ws://host:port`.
    pub(crate) endpoint: String,
    /// The shared token.
    pub(crate) token: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Connects and completes the handshake, retrying `UNAVAILABLE` answers.
///
/// # Errors
/// [`GatewayError::Unavailable`] when the gateway cannot be reached, does not answer in time,
/// or is still unavailable after the retries; [`GatewayError::Unauthorized`] when it refuses the
/// token; [`GatewayError::Protocol`] on a protocol mismatch or a frame out of place.
pub(crate) async fn open(
    config: Arc<OpenClawConfig>,
    target: Arc<Target>,
) -> Result<(Socket, HelloOk), GatewayError> {
    let mut refusals = 0;
    loop {
        match attempt(&config, &target).await {
            Err(GatewayError::Unavailable {
                message,
                retry_after: Some(wait),
            }) if refusals < config.handshake_retries => {
                refusals += 1;
                tracing::debug!(endpoint = %target.endpoint, %message, ?wait, refusals, "gateway not ready; retrying the handshake");
                tokio::time::sleep(wait.min(config.backoff_max)).await;
            }
            other => return other,
        }
    }
}

async fn attempt(
    config: &OpenClawConfig,
    target: &Target,
) -> Result<(Socket, HelloOk), GatewayError> {
    let mut socket = socket::open(
        &target.endpoint,
        config.max_message_bytes,
        config.connect_timeout,
    )
    .await?;
    let deadline = Instant::now() + config.connect_timeout;
    match greet(&mut socket, config, target, deadline).await {
        Ok(hello) => Ok((socket, hello)),
        Err(e) => {
            let code = if matches!(e, GatewayError::Protocol(_)) {
                CloseCode::Protocol
            } else {
                CloseCode::Normal
            };
            socket::close(&mut socket, code, "handshake failed").await;
            Err(e)
        }
    }
}

async fn greet(
    socket: &mut Socket,
    config: &OpenClawConfig,
    target: &Target,
    deadline: Instant,
) -> Result<HelloOk, GatewayError> {
    let late = || {
        GatewayError::unavailable(format!(
            "no handshake with {} within {:?}",
            target.endpoint, config.connect_timeout
        ))
    };
    let first = tokio::time::timeout_at(deadline, socket::read(socket))
        .await
        .map_err(|_| late())??;
    match first {
        Frame::Event(event) => match GatewayEvent::from_event(event)? {
            GatewayEvent::Challenge(_) => {}
            other => {
                return Err(ProtocolError::Unexpected(format!(
                    "expected connect.challenge first, got {other:?}"
                ))
                .into());
            }
        },
        other => {
            return Err(ProtocolError::Unexpected(format!(
                "expected connect.challenge first, got {}",
                frame_kind(&other)
            ))
            .into());
        }
    }
    let params = ConnectParams::new(target.token.as_deref())
        .version(&config.client_version)
        .display_name(&config.display_name)
        .scopes(&config.scopes)
        .caps(&config.caps);
    let request = Request {
        id: CONNECT_ID.to_owned(),
        method: method::CONNECT.to_owned(),
        params: serde_json::to_value(params)
            .map_err(|e| ProtocolError::Invalid(format!("connect params: {e}")))?,
        traceparent: Some(trace::fresh()),
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    socket::write(socket, request.encode()?, remaining).await?;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket::read(socket))
            .await
            .map_err(|_| late())??;
        match frame {
            Frame::Response(response) if response.id == CONNECT_ID => {
                let payload = response
                    .outcome
                    .map_err(|e| from_response(method::CONNECT, &e))?;
                let hello = HelloOk::deserialize(&payload)
                    .map_err(|e| ProtocolError::Payload(format!("hello-ok: {e}")))?;
                if hello.protocol != PROTOCOL_VERSION {
                    return Err(GatewayError::Protocol(format!(
                        "the gateway chose protocol {}, Godel speaks {PROTOCOL_VERSION}",
                        hello.protocol
                    )));
                }
                return Ok(hello);
            }
            // Events may precede the answer; nothing else was asked.
            _ => {}
        }
    }
}

fn frame_kind(frame: &Frame) -> &'static str {
    match frame {
        Frame::Request(_) => "a request",
        Frame::Response(_) => "a response",
        Frame::Event(_) => "an event",
    }
}
