//! Protocol v4 frames as the simulator reads and writes them: strict parsing of client `req`
//! frames, builders for `res` and `event` frames, and the error shape.
//!
//! Events are serialised by hand around an already-serialised payload, so one event broadcast to
//! many connections is serialised once; only the per-connection `seq` differs.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// Milliseconds since the Unix epoch, the unit of every `ts` on the wire.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A fresh random id in the UUID text form the gateway uses for nonces, ids and connIds.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A client request frame that passed the strict frame schema.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) id: String,
    pub(crate) method: String,
    pub(crate) params: Value,
}

/// Why a client frame broke the frame schema. The connection is closed with 1008; when the frame
/// still had a usable `id`, an error `res` is sent first.
#[derive(Debug, Clone)]
pub(crate) struct FrameError {
    pub(crate) id: Option<String>,
    pub(crate) message: String,
}

const REQ_FIELDS: &[&str] = &["type", "id", "method", "params", "traceparent"];

/// Parses a text frame as a `req` frame, strictly: unknown top-level fields, a wrong `type`, a
/// missing `id` or `method` are errors.
pub(crate) fn parse_request(text: &str) -> Result<Request, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|e| FrameError {
        id: None,
        message: format!("invalid request frame: not JSON ({e})"),
    })?;
    let Value::Object(mut obj) = value else {
        return Err(FrameError {
            id: None,
            message: "invalid request frame: not an object".to_owned(),
        });
    };
    let id = obj.get("id").and_then(Value::as_str).map(str::to_owned);
    let fail = |message: String| FrameError {
        id: id.clone(),
        message,
    };
    if let Some(unknown) = obj.keys().find(|k| !REQ_FIELDS.contains(&k.as_str())) {
        return Err(fail(format!(
            "invalid request frame: at root: unexpected property '{unknown}'"
        )));
    }
    if obj.get("type").and_then(Value::as_str) != Some("req") {
        return Err(fail(
            "invalid request frame: type must be \"req\"".to_owned(),
        ));
    }
    let Some(id_text) = id.clone().filter(|s| !s.is_empty()) else {
        return Err(fail(
            "invalid request frame: id must be a non-empty string".to_owned(),
        ));
    };
    let method = match obj.get("method").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => {
            return Err(fail(
                "invalid request frame: method must be a non-empty string".to_owned(),
            ));
        }
    };
    if obj.get("traceparent").is_some_and(|t| !t.is_string()) {
        return Err(fail(
            "invalid request frame: traceparent must be a string".to_owned(),
        ));
    }
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(p @ Value::Object(_)) => p,
        Some(_) => {
            return Err(fail(
                "invalid request frame: params must be an object".to_owned(),
            ));
        }
    };
    Ok(Request {
        id: id_text,
        method,
        params,
    })
}

/// An error answer: `{code, message, details?, retryable?, retryAfterMs?}`.
#[derive(Debug, Clone)]
pub(crate) struct RpcError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) details: Option<Value>,
    pub(crate) retryable: Option<bool>,
    pub(crate) retry_after_ms: Option<u64>,
}

impl RpcError {
    /// `INVALID_REQUEST` with a message.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "INVALID_REQUEST",
            message: message.into(),
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }

    /// `UNAVAILABLE`, retryable after `retry_after_ms`.
    pub(crate) fn unavailable(message: impl Into<String>, retry_after_ms: u64) -> Self {
        Self {
            code: "UNAVAILABLE",
            message: message.into(),
            details: None,
            retryable: Some(true),
            retry_after_ms: Some(retry_after_ms),
        }
    }

    /// `FORBIDDEN` for a missing operator scope, as the real gateway words it.
    pub(crate) fn missing_scope(scope: &str) -> Self {
        Self {
            code: "FORBIDDEN",
            message: format!("missing scope: {scope}"),
            details: Some(json!({
                "code": "MISSING_SCOPE",
                "missingScope": scope,
                "requiredScopes": [scope],
            })),
            retryable: None,
            retry_after_ms: None,
        }
    }

    /// Adds `details`.
    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    fn to_value(&self) -> Value {
        let mut err = Map::new();
        err.insert("code".to_owned(), json!(self.code));
        err.insert("message".to_owned(), json!(self.message));
        if let Some(details) = &self.details {
            err.insert("details".to_owned(), details.clone());
        }
        if let Some(retryable) = self.retryable {
            err.insert("retryable".to_owned(), json!(retryable));
        }
        if let Some(ms) = self.retry_after_ms {
            err.insert("retryAfterMs".to_owned(), json!(ms));
        }
        Value::Object(err)
    }
}

/// `{"type":"res","id","ok":true,"payload"}`.
pub(crate) fn res_ok(id: &str, payload: Value) -> Value {
    json!({"type": "res", "id": id, "ok": true, "payload": payload})
}

/// `{"type":"res","id","ok":false,"error"}`.
pub(crate) fn res_err(id: &str, error: &RpcError) -> Value {
    json!({"type": "res", "id": id, "ok": false, "error": error.to_value()})
}

/// An event frame around an already-serialised payload; `seq` is absent only on
/// `connect.challenge`.
pub(crate) fn event_text(name: &str, payload_json: &str, seq: Option<u64>) -> String {
    // Event names are fixed ASCII identifiers of this crate; serde_json quotes them anyway.
    let name_json = Value::String(name.to_owned()).to_string();
    match seq {
        Some(seq) => format!(
            "{{\"type\":\"event\",\"event\":{name_json},\"payload\":{payload_json},\"seq\":{seq}}}"
        ),
        None => format!("{{\"type\":\"event\",\"event\":{name_json},\"payload\":{payload_json}}}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{RpcError, event_text, parse_request, res_err};

    #[test]
    fn a_well_formed_request_parses_and_params_default_to_an_empty_object() {
        let req = parse_request(r#"{"type":"req","id":"7","method":"health"}"#).unwrap();
        assert_eq!(req.id, "7");
        assert_eq!(req.method, "health");
        assert_eq!(req.params, json!({}));
    }

    #[test]
    fn unknown_top_level_fields_wrong_type_and_missing_ids_are_refused() {
        let unknown = parse_request(r#"{"type":"req","id":"1","method":"x","bogus":1}"#);
        let err = unknown.unwrap_err();
        assert_eq!(err.id.as_deref(), Some("1"));
        assert!(err.message.contains("bogus"));
        assert!(parse_request(r#"{"type":"event","id":"1","method":"x"}"#).is_err());
        assert!(parse_request(r#"{"type":"req","method":"x"}"#).is_err());
        assert!(parse_request(r#"{"type":"req","id":"1","method":"x","params":[]}"#).is_err());
        assert!(parse_request("not json").is_err());
        assert!(parse_request("[]").is_err());
    }

    #[test]
    fn events_and_errors_have_the_wire_shape() {
        let text = event_text("tick", r#"{"ts":1}"#, Some(3));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({"type":"event","event":"tick","payload":{"ts":1},"seq":3})
        );
        let err = res_err("2", &RpcError::missing_scope("operator.write"));
        assert_eq!(err["error"]["details"]["code"], "MISSING_SCOPE");
        assert_eq!(
            err["error"]["details"]["requiredScopes"][0],
            "operator.write"
        );
        let unavailable = res_err("3", &RpcError::unavailable("starting", 500));
        assert_eq!(unavailable["error"]["retryable"], true);
        assert_eq!(unavailable["error"]["retryAfterMs"], 500);
    }
}
