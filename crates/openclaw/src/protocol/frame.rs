//! The three frames of protocol v4 and their strict decoding.
//!
//! `{type:"req", id, method, params, traceparent?}`, `{type:"res", id, ok, payload? | error}`
//! and `{type:"event", event, payload, seq?, stateVersion?}`. [`decode`] accepts exactly these
//! top-level keys; what is inside `params`, `payload` and `error.details` is left as JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ProtocolError;

/// Longest request id, method or event name accepted (the gateway's are a few characters).
const MAX_NAME_LEN: usize = 256;

/// One frame, either direction.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A request (client to gateway).
    Request(Request),
    /// The answer to a request.
    Response(Response),
    /// An event (gateway to client).
    Event(Event),
}

/// A request: `{type:"req", id, method, params, traceparent?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// Correlates the response; unique per connection.
    pub id: String,
    /// The method, e.g. `chat.send`.
    pub method: String,
    /// Its parameters (an object).
    pub params: Value,
    /// W3C trace context to pass on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Request {
    /// The frame as JSON text, ready to send.
    ///
    /// # Errors
    /// [`ProtocolError::Invalid`] if the parameters cannot be serialised (they always can when
    /// built from `serde_json::Value`).
    pub fn encode(&self) -> Result<String, ProtocolError> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(flatten)]
            request: &'a Request,
        }
        serde_json::to_string(&Wire {
            kind: "req",
            request: self,
        })
        .map_err(|e| ProtocolError::Invalid(format!("request not serialisable: {e}")))
    }
}

/// A response: the payload of a successful request or the gateway's error.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The id of the request it answers.
    pub id: String,
    /// `ok:true` with its payload (`Null` when absent), or `ok:false` with its error (and
    /// the payload, if the gateway sent one along).
    pub outcome: Result<Value, ErrorShape>,
}

/// The `error` of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorShape {
    /// Coarse code: `INVALID_REQUEST`, `FORBIDDEN`, `UNAVAILABLE`, ...
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// More detail; `details.code` refines `code` (e.g. `AUTH_TOKEN_MISMATCH`).
    #[serde(default)]
    pub details: Option<Value>,
    /// Whether the gateway says a retry may succeed.
    #[serde(default)]
    pub retryable: Option<bool>,
    /// How long to wait before retrying.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// The `payload` the gateway sent along with the error, if any: a re-sent `chat.send` of
    /// a run that failed answers `ok:false` with `{runId, status:"error", summary}` and
    /// error `UNAVAILABLE`.
    #[serde(skip)]
    pub payload: Option<Value>,
}

impl ErrorShape {
    /// `details.code`, when the gateway gave one.
    #[must_use]
    pub fn detail_code(&self) -> Option<&str> {
        self.details.as_ref()?.get("code")?.as_str()
    }
}

/// An event: `{type:"event", event, payload, seq?, stateVersion?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its name, e.g. `agent`, `chat`, `tick`.
    pub event: String,
    /// Its payload (`Null` when absent).
    pub payload: Value,
    /// Per-connection sequence number.
    pub seq: Option<u64>,
    /// The gateway's state versions, when it sends them.
    pub state_version: Option<Value>,
}

/// Every top-level key a frame may have; anything else is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFrame {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    method: Option<String>,
    params: Option<Value>,
    traceparent: Option<String>,
    ok: Option<bool>,
    payload: Option<Value>,
    error: Option<ErrorShape>,
    event: Option<String>,
    seq: Option<u64>,
    state_version: Option<Value>,
}

/// Decodes one text frame. Never panics: malformed JSON, a wrong type, a missing or unknown
/// key, or an overlong id are errors.
///
/// # Errors
/// [`ProtocolError::Malformed`] when the text is not a JSON frame object of the right types;
/// [`ProtocolError::Invalid`] when the keys do not fit the frame's `type`.
pub fn decode(text: &str) -> Result<Frame, ProtocolError> {
    let raw: RawFrame =
        serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    match raw.kind.as_str() {
        "req" => decode_request(raw),
        "res" => decode_response(raw),
        "event" => decode_event(raw),
        other => Err(ProtocolError::Invalid(format!(
            "unknown frame type {:?}",
            truncate(other)
        ))),
    }
}

fn decode_request(raw: RawFrame) -> Result<Frame, ProtocolError> {
    refuse(
        "req",
        &[
            ("ok", raw.ok.is_some()),
            ("payload", raw.payload.is_some()),
            ("error", raw.error.is_some()),
            ("event", raw.event.is_some()),
            ("seq", raw.seq.is_some()),
            ("stateVersion", raw.state_version.is_some()),
        ],
    )?;
    let id = name("req", "id", raw.id)?;
    let method = name("req", "method", raw.method)?;
    let params = raw.params.unwrap_or(Value::Null);
    if !(params.is_object() || params.is_null()) {
        return Err(ProtocolError::Invalid("req params is not an object".into()));
    }
    Ok(Frame::Request(Request {
        id,
        method,
        params,
        traceparent: raw.traceparent,
    }))
}

fn decode_response(raw: RawFrame) -> Result<Frame, ProtocolError> {
    refuse(
        "res",
        &[
            ("method", raw.method.is_some()),
            ("params", raw.params.is_some()),
            ("traceparent", raw.traceparent.is_some()),
            ("event", raw.event.is_some()),
            ("seq", raw.seq.is_some()),
            ("stateVersion", raw.state_version.is_some()),
        ],
    )?;
    let id = name("res", "id", raw.id)?;
    let outcome = match (raw.ok, raw.error, raw.payload) {
        (None, _, _) => return Err(ProtocolError::Invalid("res without ok".into())),
        (Some(true), None, payload) => Ok(payload.unwrap_or(Value::Null)),
        (Some(true), Some(_), _) => {
            return Err(ProtocolError::Invalid("res ok:true with an error".into()));
        }
        (Some(false), Some(error), payload) => Err(ErrorShape { payload, ..error }),
        (Some(false), None, _) => {
            return Err(ProtocolError::Invalid(
                "res ok:false without an error".into(),
            ));
        }
    };
    Ok(Frame::Response(Response { id, outcome }))
}

fn decode_event(raw: RawFrame) -> Result<Frame, ProtocolError> {
    refuse(
        "event",
        &[
            ("id", raw.id.is_some()),
            ("method", raw.method.is_some()),
            ("params", raw.params.is_some()),
            ("traceparent", raw.traceparent.is_some()),
            ("ok", raw.ok.is_some()),
            ("error", raw.error.is_some()),
        ],
    )?;
    let event = name("event", "event", raw.event)?;
    Ok(Frame::Event(Event {
        event,
        payload: raw.payload.unwrap_or(Value::Null),
        seq: raw.seq,
        state_version: raw.state_version,
    }))
}

/// Refuses keys that do not belong to a frame of type `kind`.
fn refuse(kind: &str, present: &[(&str, bool)]) -> Result<(), ProtocolError> {
    match present.iter().find(|(_, here)| *here) {
        Some((key, _)) => Err(ProtocolError::Invalid(format!(
            "{kind} frame with key {key:?}"
        ))),
        None => Ok(()),
    }
}

/// A required, non-empty, bounded string field.
fn name(kind: &str, key: &str, value: Option<String>) -> Result<String, ProtocolError> {
    match value {
        None => Err(ProtocolError::Invalid(format!(
            "{kind} frame without {key}"
        ))),
        Some(v) if v.is_empty() => Err(ProtocolError::Invalid(format!(
            "{kind} frame with empty {key}"
        ))),
        Some(v) if v.len() > MAX_NAME_LEN => Err(ProtocolError::Invalid(format!(
            "{kind} frame {key} longer than {MAX_NAME_LEN} bytes"
        ))),
        Some(v) => Ok(v),
    }
}

/// At most 64 characters of untrusted text, for error messages.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_three_frames() {
        let req = decode(
            r#"{"type":"req","id":"3","method":"chat.send","params":{"a":1},"traceparent":"00-x"}"#,
        );
        assert!(
            matches!(req, Ok(Frame::Request(r)) if r.method == "chat.send" && r.traceparent.as_deref() == Some("00-x"))
        );
        let ok = decode(r#"{"type":"res","id":"3","ok":true,"payload":{"runId":"r"}}"#);
        assert!(
            matches!(ok, Ok(Frame::Response(Response { outcome: Ok(p), .. })) if p["runId"] == "r")
        );
        let err = decode(
            r#"{"type":"res","id":"1","ok":false,"error":{"code":"UNAVAILABLE","message":"booting","retryable":true,"retryAfterMs":500}}"#,
        );
        match err {
            Ok(Frame::Response(Response {
                outcome: Err(e), ..
            })) => {
                assert_eq!(e.code, "UNAVAILABLE");
                assert_eq!(e.retry_after_ms, Some(500));
                assert_eq!(e.retryable, Some(true));
            }
            other => panic!("unexpected {other:?}"),
        }
        let ev = decode(r#"{"type":"event","event":"tick","payload":{"ts":1},"seq":2}"#);
        assert!(matches!(ev, Ok(Frame::Event(e)) if e.event == "tick" && e.seq == Some(2)));
    }

    #[test]
    fn an_error_may_come_with_a_payload() {
        // Seen on the real gateway: re-sending the key of a run that failed.
        let text = r#"{"type":"res","id":"5","ok":false,"payload":{"runId":"r","status":"error","summary":"boom"},"error":{"code":"UNAVAILABLE","message":"boom"}}"#;
        match decode(text) {
            Ok(Frame::Response(Response {
                outcome: Err(e), ..
            })) => {
                assert_eq!(e.code, "UNAVAILABLE");
                assert_eq!(
                    e.payload.as_ref().map(|p| &p["status"]),
                    Some(&json!("error"))
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_ok_response_may_have_no_payload() {
        let ok = decode(r#"{"type":"res","id":"3","ok":true}"#);
        assert!(matches!(
            ok,
            Ok(Frame::Response(Response {
                outcome: Ok(Value::Null),
                ..
            }))
        ));
    }

    #[test]
    fn refuses_envelopes_that_do_not_fit() {
        for text in [
            r#"{"type":"res","id":"1","ok":true,"payload":{},"extra":1}"#,
            r#"{"type":"res","id":"1","payload":{}}"#,
            r#"{"type":"res","id":"1","ok":false}"#,
            r#"{"type":"res","id":"1","ok":true,"error":{"code":"X","message":"m"}}"#,
            r#"{"type":"res","ok":true}"#,
            r#"{"type":"res","id":"","ok":true}"#,
            r#"{"type":"event","payload":{}}"#,
            r#"{"type":"event","event":"tick","id":"1"}"#,
            r#"{"type":"req","id":"1","method":"m","params":[1]}"#,
            r#"{"type":"req","id":"1","method":"m","ok":true}"#,
            r#"{"type":"push","id":"1"}"#,
            r#"{"id":"1","ok":true}"#,
            r#"{"type":"res","id":1,"ok":true}"#,
            r#"{"type":"res","id":"1","ok":"yes"}"#,
            r#"{"type":"event","event":"tick","seq":-1}"#,
            r#"{"type":"event","event":"tick","seq":1.5}"#,
            r#"{"type":"res","id":"1","ok":false,"error":{"code":"X"}}"#,
            r#"{"type":"res","id":"1","ok":true"#,
            r#"[]"#,
            r#""res""#,
            r#""#,
            "{\"type\":\"res\",\"id\":\"1\",\"ok\":true}\u{0}",
        ] {
            assert!(decode(text).is_err(), "accepted {text}");
        }
    }

    #[test]
    fn refuses_overlong_ids() {
        let id = "9".repeat(MAX_NAME_LEN + 1);
        let text = json!({"type":"res","id":id,"ok":true}).to_string();
        assert!(matches!(decode(&text), Err(ProtocolError::Invalid(_))));
    }

    #[test]
    fn survives_deep_nesting() {
        let text = format!(
            r#"{{"type":"event","event":"x","payload":{}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(decode(&text).is_err());
    }

    #[test]
    fn error_details_are_tolerant_and_readable() {
        let text = r#"{"type":"res","id":"1","ok":false,"error":{"code":"INVALID_REQUEST","message":"unauthorized","details":{"code":"AUTH_TOKEN_MISMATCH","authReason":"token_mismatch"},"future":true}}"#;
        match decode(text) {
            Ok(Frame::Response(Response {
                outcome: Err(e), ..
            })) => {
                assert_eq!(e.detail_code(), Some("AUTH_TOKEN_MISMATCH"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn requests_round_trip() {
        let request = Request {
            id: "7".into(),
            method: "health".into(),
            params: json!({}),
            traceparent: None,
        };
        let text = request.encode().unwrap_or_default();
        assert_eq!(
            text,
            r#"{"type":"req","id":"7","method":"health","params":{}}"#
        );
        assert_eq!(decode(&text).ok(), Some(Frame::Request(request)));
    }
}
