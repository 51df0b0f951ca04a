//! Errors of the OpenClaw client, and the one place where what the gateway (or the socket)
//! says becomes a [`GatewayError`]: [`from_response`] for error frames, [`from_close`] for close
//! codes, `from_transport` for WebSocket failures. No tungstenite error crosses the port.

use std::time::Duration;

use godel_lifecycle::GatewayError;
use tokio_tungstenite::tungstenite;

use crate::protocol::ErrorShape;

/// A frame or payload that breaks protocol v4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Not a JSON frame object with fields of the right types.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Valid JSON whose keys do not fit the frame's type.
    #[error("invalid frame: {0}")]
    Invalid(String),
    /// A known event's or result's payload lacks what Godel reads.
    #[error("unexpected payload: {0}")]
    Payload(String),
    /// A well-formed frame at the wrong moment (e.g. no `connect.challenge` first).
    #[error("unexpected frame: {0}")]
    Unexpected(String),
}

impl From<ProtocolError> for GatewayError {
    fn from(error: ProtocolError) -> Self {
        Self::Protocol(error.to_string())
    }
}

/// Maps the `error` of a failed response to `method`.
///
/// - credentials refused (`details.code` `AUTH_*`, `DEVICE_*`, pairing, or a message starting
///   with `unauthorized`) → [`GatewayError::Unauthorized`];
/// - `PROTOCOL_MISMATCH` → [`GatewayError::Protocol`];
/// - `UNAVAILABLE` → [`GatewayError::Unavailable`] with `retryAfterMs`;
/// - an unknown run or session (`NOT_FOUND`, `*_NOT_FOUND`, `UNKNOWN_RUN`, `UNKNOWN_SESSION`,
///   or such a message) → [`GatewayError::NotFound`];
/// - anything else (`FORBIDDEN`, `INVALID_REQUEST`, ...) → [`GatewayError::Rejected`] with the
///   frame's `retryable` (false when absent) and `retryAfterMs`.
#[must_use]
pub fn from_response(method: &str, error: &ErrorShape) -> GatewayError {
    let detail = error.detail_code().unwrap_or_default();
    let retry_after = error.retry_after_ms.map(Duration::from_millis);
    let message = if detail.is_empty() {
        format!("{method}: {}", error.message)
    } else {
        format!("{method}: {} ({detail})", error.message)
    };
    let code = error.code.as_str();
    let lower = error.message.to_ascii_lowercase();
    if is_auth(code, detail) || lower.starts_with("unauthorized") {
        GatewayError::Unauthorized(message)
    } else if code == "PROTOCOL_MISMATCH" || detail == "PROTOCOL_MISMATCH" {
        GatewayError::Protocol(message)
    } else if code == "UNAVAILABLE" {
        GatewayError::Unavailable {
            message,
            retry_after,
        }
    } else if is_not_found(code, detail, &lower) {
        GatewayError::NotFound(message)
    } else {
        GatewayError::Rejected {
            code: error.code.clone(),
            message,
            retryable: error.retryable.unwrap_or(false),
            retry_after,
        }
    }
}

fn is_auth(code: &str, detail: &str) -> bool {
    code == "UNAUTHORIZED"
        || detail.starts_with("AUTH_")
        || detail.starts_with("DEVICE_")
        || matches!(detail, "PAIRING_REQUIRED" | "NOT_PAIRED" | "UNAUTHORIZED")
}

fn is_not_found(code: &str, detail: &str, lower_message: &str) -> bool {
    code == "NOT_FOUND"
        || detail.ends_with("NOT_FOUND")
        || matches!(detail, "UNKNOWN_RUN" | "UNKNOWN_SESSION")
        || [
            "unknown run",
            "unknown session",
            "run not found",
            "session not found",
        ]
        .iter()
        .any(|p| lower_message.starts_with(p))
}

/// Maps the gateway closing the connection with `code` (none: no close frame).
///
/// - 1008 (policy violation; wrong token, unknown client id, first frame not `connect`) →
///   [`GatewayError::Unauthorized`] when the reason speaks of credentials, else
///   [`GatewayError::Protocol`];
/// - 1002, 1003, 1007, 1009 (protocol error, bad data, too big) → [`GatewayError::Protocol`];
/// - 1012 (service restart, after event `shutdown`), 1000, 1001, 1011, 1013 and the rest →
///   [`GatewayError::Unavailable`]: reconnecting may work. A normal close is never a run
///   failure.
#[must_use]
pub fn from_close(code: Option<u16>, reason: &str) -> GatewayError {
    let reason: String = reason.chars().take(200).collect();
    let Some(code) = code else {
        return GatewayError::unavailable("the gateway closed the connection");
    };
    let message = if reason.is_empty() {
        format!("the gateway closed the connection ({code})")
    } else {
        format!("the gateway closed the connection ({code}: {reason})")
    };
    match code {
        1008 => {
            let lower = reason.to_ascii_lowercase();
            if ["auth", "token", "unauthori", "pairing", "credential"]
                .iter()
                .any(|w| lower.contains(w))
            {
                GatewayError::Unauthorized(message)
            } else {
                GatewayError::Protocol(message)
            }
        }
        1002 | 1003 | 1007 | 1009 => GatewayError::Protocol(message),
        _ => GatewayError::unavailable(message),
    }
}

/// Maps a WebSocket failure: I/O and closed sockets are [`GatewayError::Unavailable`], an HTTP
/// 401/403 at the upgrade is [`GatewayError::Unauthorized`], broken framing is
/// [`GatewayError::Protocol`].
pub(crate) fn from_transport(error: &tungstenite::Error) -> GatewayError {
    use tungstenite::Error as E;
    match error {
        E::Http(response) => {
            let status = response.status();
            if status.as_u16() == 401 || status.as_u16() == 403 {
                GatewayError::Unauthorized(format!("websocket upgrade refused: {status}"))
            } else {
                GatewayError::unavailable(format!("websocket upgrade refused: {status}"))
            }
        }
        // The peer died (crash, kill, network): the gateway is away, not speaking wrongly.
        E::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            GatewayError::unavailable(format!("websocket: {error}"))
        }
        E::Capacity(_)
        | E::Protocol(_)
        | E::Utf8(_)
        | E::AttackAttempt
        | E::Url(_)
        | E::HttpFormat(_) => GatewayError::Protocol(format!("websocket: {error}")),
        _ => GatewayError::unavailable(format!("websocket: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(code: &str, message: &str, details: Option<serde_json::Value>) -> ErrorShape {
        ErrorShape {
            code: code.into(),
            message: message.into(),
            details,
            retryable: None,
            retry_after_ms: None,
            payload: None,
        }
    }

    #[test]
    fn a_wrong_token_is_unauthorized() {
        let e = shape(
            "INVALID_REQUEST",
            "unauthorized: gateway token mismatch (provide gateway auth token)",
            Some(json!({"code": "AUTH_TOKEN_MISMATCH"})),
        );
        assert!(
            matches!(from_response("connect", &e), GatewayError::Unauthorized(m) if m.contains("AUTH_TOKEN_MISMATCH"))
        );
    }

    #[test]
    fn unavailable_carries_the_retry_hint() {
        let mut e = shape("UNAVAILABLE", "starting", None);
        e.retryable = Some(true);
        e.retry_after_ms = Some(500);
        assert_eq!(
            from_response("connect", &e),
            GatewayError::Unavailable {
                message: "connect: starting".into(),
                retry_after: Some(Duration::from_millis(500)),
            }
        );
    }

    #[test]
    fn refusals_keep_the_frames_retryable() {
        let e = shape(
            "FORBIDDEN",
            "missing scope: operator.write",
            Some(json!({"code": "MISSING_SCOPE"})),
        );
        let mapped = from_response("chat.send", &e);
        assert!(
            matches!(&mapped, GatewayError::Rejected { code, retryable: false, .. } if code == "FORBIDDEN")
        );
        assert!(!mapped.is_retryable());
        let mut busy = shape("INVALID_REQUEST", "busy", None);
        busy.retryable = Some(true);
        assert!(from_response("chat.send", &busy).is_retryable());
        let unknown_method = shape("INVALID_REQUEST", "unknown method: no.such.method", None);
        assert!(matches!(
            from_response("x", &unknown_method),
            GatewayError::Rejected { .. }
        ));
    }

    #[test]
    fn protocol_mismatch_and_unknown_runs() {
        let e = shape(
            "INVALID_REQUEST",
            "protocol mismatch",
            Some(json!({"code": "PROTOCOL_MISMATCH"})),
        );
        assert!(matches!(
            from_response("connect", &e),
            GatewayError::Protocol(_)
        ));
        let e = shape("INVALID_REQUEST", "unknown run: r1", None);
        assert!(matches!(
            from_response("agent.wait", &e),
            GatewayError::NotFound(_)
        ));
        let e = shape("NOT_FOUND", "no such session", None);
        assert!(matches!(
            from_response("sessions.delete", &e),
            GatewayError::NotFound(_)
        ));
    }

    #[test]
    fn close_codes() {
        assert!(matches!(
            from_close(Some(1008), "unauthorized: token mismatch"),
            GatewayError::Unauthorized(_)
        ));
        assert!(matches!(
            from_close(Some(1008), "invalid handshake"),
            GatewayError::Protocol(_)
        ));
        assert!(matches!(
            from_close(Some(1002), "protocol mismatch"),
            GatewayError::Protocol(_)
        ));
        assert!(matches!(
            from_close(Some(1012), "service restart"),
            GatewayError::Unavailable { .. }
        ));
        assert!(matches!(
            from_close(Some(1000), "done"),
            GatewayError::Unavailable { .. }
        ));
        assert!(matches!(
            from_close(None, ""),
            GatewayError::Unavailable { .. }
        ));
        let long = "x".repeat(10_000);
        assert!(from_close(Some(1011), &long).to_string().len() < 400);
    }

    #[test]
    fn transport_failures() {
        let io =
            tungstenite::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            from_transport(&io),
            GatewayError::Unavailable { .. }
        ));
        assert!(matches!(
            from_transport(&tungstenite::Error::AttackAttempt),
            GatewayError::Protocol(_)
        ));
        let reset = tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        );
        assert!(matches!(
            from_transport(&reset),
            GatewayError::Unavailable { .. }
        ));
    }
}
