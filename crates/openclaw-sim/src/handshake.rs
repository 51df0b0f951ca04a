//! The `connect` handshake: strict validation of the connect params, protocol range, start-up
//! refusal and token check, in that order, and the `hello-ok` payload (shape copied from
//! `hello_nodevice_backend.jsonl`, trimmed of what only the real product has).

use serde_json::{Map, Value, json};

use crate::frames::{Request, RpcError, now_ms};
use crate::server::Instance;

/// The protocol version the simulator speaks.
pub(crate) const PROTOCOL: u64 = 4;

/// `client.id` values the real gateway accepts (an unknown id such as `godel` is refused, 1008).
const CLIENT_IDS: &[&str] = &[
    "webchat-ui",
    "openclaw-control-ui",
    "control-ui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-ios",
    "openclaw-android",
    "node-host",
    "test",
    "fingerprint",
    "openclaw-probe",
];

/// `client.mode` values.
const CLIENT_MODES: &[&str] = &["webchat", "cli", "ui", "backend", "node", "probe", "test"];

const CONNECT_FIELDS: &[&str] = &[
    "minProtocol",
    "maxProtocol",
    "client",
    "caps",
    "commands",
    "permissions",
    "pathEnv",
    "role",
    "scopes",
    "device",
    "auth",
    "locale",
    "userAgent",
];
const CLIENT_FIELDS: &[&str] = &[
    "id",
    "displayName",
    "version",
    "platform",
    "deviceFamily",
    "modelIdentifier",
    "mode",
    "instanceId",
];
const AUTH_FIELDS: &[&str] = &["token", "password", "deviceToken", "bootstrapToken"];

/// An accepted `connect`.
#[derive(Debug, Clone)]
pub(crate) struct Hello {
    pub(crate) role: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) caps: Vec<String>,
    pub(crate) client_id: String,
}

/// A refused `connect`: the error `res` to send, then the close code and reason.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) error: RpcError,
    pub(crate) close_code: u16,
    pub(crate) close_reason: &'static str,
}

impl Refusal {
    fn invalid_params(detail: impl std::fmt::Display) -> Self {
        Self {
            error: RpcError::invalid(format!("invalid connect params: {detail}")),
            close_code: 1008,
            close_reason: "invalid connect params",
        }
    }
}

/// Checks the first request of a connection.
pub(crate) fn check_connect(instance: &Instance, req: &Request) -> Result<Hello, Refusal> {
    if req.method != "connect" {
        return Err(Refusal {
            error: RpcError::invalid("invalid handshake: first request must be connect"),
            close_code: 1008,
            close_reason: "invalid handshake",
        });
    }
    let params = req
        .params
        .as_object()
        .ok_or_else(|| Refusal::invalid_params("at root: must be object"))?;
    let hello = validate(params)?;
    let (min, max) = (
        params
            .get("minProtocol")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        params
            .get("maxProtocol")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    );
    if !(min..=max).contains(&PROTOCOL) {
        return Err(Refusal {
            error: RpcError::invalid("protocol mismatch").with_details(json!({
                "code": "PROTOCOL_MISMATCH",
                "expectedProtocol": PROTOCOL,
                "minProtocol": min,
                "maxProtocol": max,
            })),
            close_code: 1002,
            close_reason: "protocol mismatch",
        });
    }
    if instance.refuse_connect() {
        return Err(Refusal {
            error: RpcError::unavailable("gateway is starting; retry shortly", 500),
            close_code: 1013,
            close_reason: "gateway starting",
        });
    }
    if let Some(expected) = instance.shared.config.token.as_deref() {
        let given = params
            .get("auth")
            .and_then(|a| a.get("token"))
            .and_then(Value::as_str);
        let (message, code, reason) = match given {
            Some(token) if token == expected => ("", "", ""),
            Some(_) => (
                "unauthorized: gateway token mismatch (provide gateway auth token)",
                "AUTH_TOKEN_MISMATCH",
                "token_mismatch",
            ),
            None => (
                "unauthorized: gateway token missing (provide gateway auth token)",
                "AUTH_TOKEN_MISSING",
                "token_missing",
            ),
        };
        if !code.is_empty() {
            return Err(Refusal {
                error: RpcError::invalid(message).with_details(json!({
                    "code": code,
                    "authReason": reason,
                    "canRetryWithDeviceToken": false,
                    "recommendedNextStep": "update_auth_credentials",
                })),
                close_code: 1008,
                close_reason: "unauthorized",
            });
        }
    }
    Ok(hello)
}

/// The strict schema of the connect params.
fn validate(params: &Map<String, Value>) -> Result<Hello, Refusal> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !CONNECT_FIELDS.contains(&k.as_str()))
    {
        return Err(Refusal::invalid_params(format!(
            "at root: unexpected property '{unknown}'"
        )));
    }
    for field in ["minProtocol", "maxProtocol"] {
        match params.get(field).and_then(Value::as_u64) {
            Some(n) if n >= 1 => {}
            _ => {
                return Err(Refusal::invalid_params(format!(
                    "at /{field}: must be an integer >= 1"
                )));
            }
        }
    }
    let client = params
        .get("client")
        .and_then(Value::as_object)
        .ok_or_else(|| Refusal::invalid_params("at root: must have required property 'client'"))?;
    if let Some(unknown) = client.keys().find(|k| !CLIENT_FIELDS.contains(&k.as_str())) {
        return Err(Refusal::invalid_params(format!(
            "at /client: unexpected property '{unknown}'"
        )));
    }
    for field in ["id", "version", "platform", "mode"] {
        if !client.get(field).is_some_and(Value::is_string) {
            return Err(Refusal::invalid_params(format!(
                "at /client: must have required property '{field}' (string)"
            )));
        }
    }
    for field in [
        "displayName",
        "deviceFamily",
        "modelIdentifier",
        "instanceId",
    ] {
        if client.get(field).is_some_and(|v| !v.is_string()) {
            return Err(Refusal::invalid_params(format!(
                "at /client/{field}: must be string"
            )));
        }
    }
    let client_id = client.get("id").and_then(Value::as_str).unwrap_or_default();
    if !CLIENT_IDS.contains(&client_id) {
        return Err(Refusal::invalid_params(
            "at /client/id: must be equal to one of the allowed values",
        ));
    }
    let mode = client
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !CLIENT_MODES.contains(&mode) {
        return Err(Refusal::invalid_params(
            "at /client/mode: must be equal to one of the allowed values",
        ));
    }
    let role = match params.get("role") {
        None => "operator".to_owned(),
        Some(Value::String(r)) if r == "operator" || r == "node" => r.clone(),
        Some(_) => {
            return Err(Refusal::invalid_params(
                "at /role: must be equal to one of the allowed values",
            ));
        }
    };
    let scopes = string_list(params, "scopes")?;
    let caps = string_list(params, "caps")?;
    if let Some(auth) = params.get("auth") {
        let auth = auth
            .as_object()
            .ok_or_else(|| Refusal::invalid_params("at /auth: must be object"))?;
        if let Some(unknown) = auth.keys().find(|k| !AUTH_FIELDS.contains(&k.as_str())) {
            return Err(Refusal::invalid_params(format!(
                "at /auth: unexpected property '{unknown}'"
            )));
        }
        if auth.values().any(|v| !v.is_string()) {
            return Err(Refusal::invalid_params("at /auth: values must be strings"));
        }
    }
    for field in ["locale", "userAgent", "pathEnv"] {
        if params.get(field).is_some_and(|v| !v.is_string()) {
            return Err(Refusal::invalid_params(format!(
                "at /{field}: must be string"
            )));
        }
    }
    for field in ["device", "permissions"] {
        if params.get(field).is_some_and(|v| !v.is_object()) {
            return Err(Refusal::invalid_params(format!(
                "at /{field}: must be object"
            )));
        }
    }
    if params.get("commands").is_some_and(|v| !v.is_array()) {
        return Err(Refusal::invalid_params("at /commands: must be array"));
    }
    Ok(Hello {
        role,
        scopes,
        caps,
        client_id: client_id.to_owned(),
    })
}

fn string_list(params: &Map<String, Value>, field: &str) -> Result<Vec<String>, Refusal> {
    match params.get(field) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    Refusal::invalid_params(format!("at /{field}: must be array of strings"))
                })
            })
            .collect(),
        Some(_) => Err(Refusal::invalid_params(format!(
            "at /{field}: must be array"
        ))),
    }
}

/// The `hello-ok` payload.
pub(crate) fn hello_ok(instance: &Instance, conn_id: &str, hello: &Hello, health: Value) -> Value {
    let config = &instance.shared.config;
    let default_agent = config.default_agent();
    let now = now_ms();
    json!({
        "type": "hello-ok",
        "protocol": PROTOCOL,
        "server": {
            "version": config.version,
            "buildId": format!("{}-simulator", config.version),
            "bootId": instance.boot_id,
            "controlUiBuildSource": "bundled",
            "connId": conn_id,
        },
        "features": {
            "methods": crate::methods::METHODS,
            "events": crate::methods::EVENTS,
            "capabilities": ["model-catalog-snapshot"],
        },
        "snapshot": {
            "suspension": {"phase": "accepting"},
            "presence": [{
                "host": "simulator",
                "ip": "127.0.0.1",
                "version": config.version,
                "platform": std::env::consts::OS,
                "deviceFamily": "Linux",
                "mode": "gateway",
                "reason": "self",
                "instanceId": instance.boot_id,
                "text": format!("Gateway: simulator (127.0.0.1) · app {} · mode gateway · reason self", config.version),
                "ts": now,
            }],
            "health": health,
            "stateVersion": {"presence": 1, "health": 1},
            "uptimeMs": instance.uptime_ms(),
            "sessionDefaults": {
                "defaultAgentId": default_agent,
                "modelConfigured": true,
                "ownership": "sole",
                "selectionRequired": false,
                "mainKey": "main",
                "mainSessionKey": format!("agent:{default_agent}:main"),
                "scope": "per-sender",
            },
            "authMode": if config.token.is_some() { "token" } else { "none" },
        },
        "auth": {
            "method": if config.token.is_some() { "token" } else { "none" },
            "role": hello.role,
            "scopes": hello.scopes,
        },
        "policy": {
            "maxPayload": crate::connection::MAX_PAYLOAD,
            "maxBufferedBytes": 2 * crate::connection::MAX_PAYLOAD,
            "tickIntervalMs": u64::try_from(config.tick().as_millis()).unwrap_or(u64::MAX),
        },
    })
}
