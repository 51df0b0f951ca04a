//! The handshake's payloads: `connect.challenge`, the `connect` parameters, and `hello-ok`.

use serde::{Deserialize, Serialize};

use super::{CLIENT_ID, CLIENT_MODE, DEFAULT_CAPS, DEFAULT_SCOPES, PROTOCOL_VERSION, ROLE};

/// `connect.challenge`, the first frame the gateway sends on a connection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    /// Nonce a device identity would sign (Godel connects without one).
    pub nonce: String,
    /// The gateway's clock, milliseconds since the epoch.
    #[serde(default)]
    pub ts: Option<u64>,
}

/// The parameters of `connect`. Only the keys of the gateway's schema are sent: it closes the
/// socket (1008) on an unknown one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectParams {
    /// Oldest protocol accepted.
    pub min_protocol: u32,
    /// Newest protocol accepted.
    pub max_protocol: u32,
    /// Who connects.
    pub client: ClientInfo,
    /// `operator`.
    pub role: String,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Capabilities announced.
    pub caps: Vec<String>,
    /// The shared token, when the gateway needs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<ConnectAuth>,
    /// Free-form user agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// `connect.client`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    /// One of the gateway's fixed ids: [`CLIENT_ID`].
    pub id: String,
    /// Godel's version.
    pub version: String,
    /// Operating system.
    pub platform: String,
    /// [`CLIENT_MODE`].
    pub mode: String,
    /// How the gateway shows this client (`godel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `connect.auth`. Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ConnectAuth {
    /// The shared gateway token.
    pub token: String,
}

impl std::fmt::Debug for ConnectAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectAuth")
            .field("token", &"<redacted>")
            .finish()
    }
}

impl ConnectParams {
    /// Parameters of a backend orchestrator (`gateway-client`, mode `backend`, role
    /// `operator`, protocol 4 only) with the default scopes and caps, display name `godel`.
    #[must_use]
    pub fn new(token: Option<&str>) -> Self {
        Self {
            min_protocol: PROTOCOL_VERSION,
            max_protocol: PROTOCOL_VERSION,
            client: ClientInfo {
                id: CLIENT_ID.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                platform: std::env::consts::OS.to_owned(),
                mode: CLIENT_MODE.to_owned(),
                display_name: Some("godel".to_owned()),
            },
            role: ROLE.to_owned(),
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            caps: DEFAULT_CAPS.iter().map(|s| (*s).to_owned()).collect(),
            auth: token.map(|token| ConnectAuth {
                token: token.to_owned(),
            }),
            user_agent: Some(format!("godel/{}", env!("CARGO_PKG_VERSION"))),
        }
    }

    /// With this client version (also in the user agent).
    #[must_use]
    pub fn version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.client.version);
        self.user_agent = Some(format!("godel/{version}"));
        self
    }

    /// With this display name.
    #[must_use]
    pub fn display_name(mut self, name: &str) -> Self {
        self.client.display_name = Some(name.to_owned());
        self
    }

    /// With these scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: &[String]) -> Self {
        self.scopes = scopes.to_vec();
        self
    }

    /// With these capabilities.
    #[must_use]
    pub fn caps(mut self, caps: &[String]) -> Self {
        self.caps = caps.to_vec();
        self
    }
}

/// The `hello-ok` payload answering `connect`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloOk {
    /// The protocol chosen (4).
    pub protocol: u32,
    /// The gateway itself.
    pub server: ServerInfo,
    /// Methods and events it offers.
    #[serde(default)]
    pub features: Features,
    /// Limits it applies.
    #[serde(default)]
    pub policy: Policy,
    /// The role and scopes granted.
    #[serde(default)]
    pub auth: Option<HelloAuth>,
}

/// `hello-ok.server`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// The gateway's version, e.g. `2026.9.6`.
    pub version: String,
    /// This connection's id on the gateway.
    #[serde(default)]
    pub conn_id: Option<String>,
}

/// `hello-ok.features`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Features {
    /// Methods the gateway offers.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Events it may send.
    #[serde(default)]
    pub events: Vec<String>,
}

/// `hello-ok.policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Largest frame the gateway accepts, in bytes.
    #[serde(default)]
    pub max_payload: Option<u64>,
    /// How often it sends `tick`.
    #[serde(default)]
    pub tick_interval_ms: Option<u64>,
}

/// `hello-ok.auth`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HelloAuth {
    /// The role granted.
    #[serde(default)]
    pub role: Option<String>,
    /// The scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connect_params_are_those_of_a_backend_orchestrator() {
        let params = ConnectParams::new(Some("t0k"))
            .display_name("godel")
            .version("1.2.3");
        let value = serde_json::to_value(&params).unwrap_or_default();
        assert_eq!(value["minProtocol"], 4);
        assert_eq!(value["maxProtocol"], 4);
        assert_eq!(value["client"]["id"], "gateway-client");
        assert_eq!(value["client"]["mode"], "backend");
        assert_eq!(value["client"]["displayName"], "godel");
        assert_eq!(value["client"]["version"], "1.2.3");
        assert_eq!(value["role"], "operator");
        assert_eq!(
            value["scopes"],
            json!(["operator.read", "operator.write", "operator.admin"])
        );
        assert_eq!(value["caps"], json!(["tool-events"]));
        assert_eq!(value["auth"], json!({"token": "t0k"}));
        assert_eq!(value["userAgent"], "godel/1.2.3");
        let keys: Vec<&String> = value
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 8, "only schema keys: {keys:?}");
        assert!(!format!("{params:?}").contains("t0k"));
    }

    #[test]
    fn without_a_token_no_auth_is_sent() {
        let value = serde_json::to_value(ConnectParams::new(None)).unwrap_or_default();
        assert!(value.get("auth").is_none());
    }

    #[test]
    fn hello_ok_reads_what_godel_needs_and_ignores_the_rest() {
        let hello: HelloOk = serde_json::from_value(json!({
            "type": "hello-ok", "protocol": 4,
            "server": {"version": "2026.9.6", "connId": "c1", "bootId": "b"},
            "features": {"methods": ["health"], "events": ["tick"]},
            "snapshot": {"health": {}},
            "auth": {"role": "operator", "scopes": ["operator.read"]},
            "policy": {"maxPayload": 1048576, "tickIntervalMs": 30000, "other": 1}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hello.protocol, 4);
        assert_eq!(hello.server.version, "2026.9.6");
        assert_eq!(hello.server.conn_id.as_deref(), Some("c1"));
        assert_eq!(hello.policy.tick_interval_ms, Some(30_000));
        assert_eq!(hello.policy.max_payload, Some(1_048_576));
        assert_eq!(hello.features.methods, vec!["health".to_owned()]);
    }
}
