//! What an instance (one OpenClaw gateway) is: the spec it is registered with and the record
//! the registry keeps of it.

use std::fmt;

use godel_types::{Capabilities, InstanceHealth, InstanceId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::FederationError;

/// Longest endpoint accepted, in bytes.
pub const MAX_ENDPOINT_LEN: usize = 2048;

/// How an instance is registered: where it listens and what it offers.
///
/// `token` is a secret: `Debug` prints it as `<redacted>` and serialization leaves it out (it is
/// read when deserializing), so a spec may be logged or returned by an API as it is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSpec {
    /// The gateway's WebSocket URL (`ws://` or `wss://`).
    pub endpoint: String,
    /// Region, for geo-aware routing (e.g. `us-east`).
    #[serde(default)]
    pub region: Option<String>,
    /// Zone within the region.
    #[serde(default)]
    pub zone: Option<String>,
    /// The gateway's version, as it reports it.
    #[serde(default)]
    pub version: Option<String>,
    /// What agents on this instance can do.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Most sessions the instance runs at once (at least 1).
    pub max_sessions: u32,
    /// The gateway's auth token (secret).
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
}

impl InstanceSpec {
    /// A spec for `endpoint` with room for `max_sessions` and nothing else set.
    #[must_use]
    pub fn new(endpoint: impl Into<String>, max_sessions: u32) -> Self {
        Self {
            endpoint: endpoint.into(),
            region: None,
            zone: None,
            version: None,
            capabilities: Capabilities::none(),
            max_sessions,
            token: None,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`FederationError::Invalid`] naming the first bad field: an endpoint that is not a
    /// `ws://`/`wss://` URL with a host, `max_sessions` of 0, or an empty `region`, `zone` or
    /// `version` (leave them `None` instead).
    pub fn validate(&self) -> Result<(), FederationError> {
        validate_endpoint(&self.endpoint)?;
        if self.max_sessions == 0 {
            return Err(FederationError::invalid(
                "max_sessions",
                "must be at least 1",
            ));
        }
        for (field, value) in [
            ("region", &self.region),
            ("zone", &self.zone),
            ("version", &self.version),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(FederationError::invalid(
                    field,
                    "must not be empty when set",
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for InstanceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceSpec")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("zone", &self.zone)
            .field("version", &self.version)
            .field("capabilities", &self.capabilities)
            .field("max_sessions", &self.max_sessions)
            .field("token", &Redacted(&self.token))
            .finish()
    }
}

/// The registry's record of one instance.
///
/// Like [`InstanceSpec`], `Debug` redacts `token` and serialization leaves it out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Its id.
    pub id: InstanceId,
    /// The gateway's WebSocket URL.
    pub endpoint: String,
    /// Region, for geo-aware routing.
    pub region: Option<String>,
    /// Zone within the region.
    pub zone: Option<String>,
    /// The gateway's version.
    pub version: Option<String>,
    /// What agents on this instance can do.
    pub capabilities: Capabilities,
    /// Most sessions the instance runs at once.
    pub max_sessions: u32,
    /// The gateway's auth token (secret).
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
    /// How it is doing, from its health probes.
    pub health: InstanceHealth,
    /// Active runs on it now.
    pub load: u32,
    /// When a probe last succeeded.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_heartbeat: Option<OffsetDateTime>,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// Set when it is being drained: it finishes its work but takes no new work.
    pub draining: bool,
}

impl Instance {
    /// A freshly registered instance: health unknown (it takes no work until a probe succeeds),
    /// no load, not draining.
    #[must_use]
    pub fn new(id: InstanceId, spec: InstanceSpec, now: OffsetDateTime) -> Self {
        let InstanceSpec {
            endpoint,
            region,
            zone,
            version,
            capabilities,
            max_sessions,
            token,
        } = spec;
        Self {
            id,
            endpoint,
            region,
            zone,
            version,
            capabilities,
            max_sessions,
            token,
            health: InstanceHealth::Unknown,
            load: 0,
            last_heartbeat: None,
            registered_at: now,
            draining: false,
        }
    }

    /// The spec this instance was registered with (as it stands now).
    #[must_use]
    pub fn spec(&self) -> InstanceSpec {
        InstanceSpec {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            zone: self.zone.clone(),
            version: self.version.clone(),
            capabilities: self.capabilities.clone(),
            max_sessions: self.max_sessions,
            token: self.token.clone(),
        }
    }

    /// Whether new work may be placed here: healthy and not draining.
    #[must_use]
    pub fn accepts_work(&self) -> bool {
        self.health == InstanceHealth::Healthy && !self.draining
    }

    /// Load over capacity (`load / max_sessions`); 1.0 when `max_sessions` is 0. May exceed 1.0
    /// if the instance runs more than it should.
    #[must_use]
    pub fn utilisation(&self) -> f64 {
        if self.max_sessions == 0 {
            return 1.0;
        }
        f64::from(self.load) / f64::from(self.max_sessions)
    }

    /// Sessions it could still take (`max_sessions - load`, at least 0).
    #[must_use]
    pub fn free_slots(&self) -> u32 {
        self.max_sessions.saturating_sub(self.load)
    }

    /// The endpoint in the form duplicates are detected by (see [`endpoint_key`]).
    #[must_use]
    pub fn endpoint_key(&self) -> String {
        endpoint_key(&self.endpoint)
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("zone", &self.zone)
            .field("version", &self.version)
            .field("capabilities", &self.capabilities)
            .field("max_sessions", &self.max_sessions)
            .field("token", &Redacted(&self.token))
            .field("health", &self.health)
            .field("load", &self.load)
            .field("last_heartbeat", &self.last_heartbeat)
            .field("registered_at", &self.registered_at)
            .field("draining", &self.draining)
            .finish()
    }
}

/// The form of an endpoint two registrations are compared in: scheme and host lowercased, one
/// trailing `/` dropped. `WSS://GW-1:8080/` and `wss://gw-1:8080` are the same endpoint. Stores
/// keep this key unique.
#[must_use]
pub fn endpoint_key(endpoint: &str) -> String {
    let endpoint = endpoint.trim();
    let endpoint = endpoint.strip_suffix('/').unwrap_or(endpoint);
    match endpoint.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
            format!(
                "{}://{}{path}",
                scheme.to_ascii_lowercase(),
                authority.to_ascii_lowercase()
            )
        }
        None => endpoint.to_ascii_lowercase(),
    }
}

fn validate_endpoint(endpoint: &str) -> Result<(), FederationError> {
    let invalid = |reason: &str| Err(FederationError::invalid("endpoint", reason));
    if endpoint.is_empty() {
        return invalid("must not be empty");
    }
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return invalid("is longer than 2048 bytes");
    }
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return invalid("must not contain whitespace");
    }
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return invalid("expected a ws:// or wss:// URL");
    };
    if !scheme.eq_ignore_ascii_case("ws") && !scheme.eq_ignore_ascii_case("wss") {
        return invalid("expected a ws:// or wss:// URL");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') {
        return invalid("has no host");
    }
    Ok(())
}

/// Prints `Some("<redacted>")` for a secret that is set.
struct Redacted<'a>(&'a Option<String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(\"<redacted>\")"),
            None => f.write_str("None"),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::error::ErrorKind;

    fn spec(endpoint: &str) -> InstanceSpec {
        InstanceSpec::new(endpoint, 10)
    }

    fn field_of(err: FederationError) -> &'static str {
        match err {
            FederationError::Invalid { field, .. } => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn ws_and_wss_endpoints_with_a_host_are_valid() {
        for ok in [
            "ws://127.0.0.1:18789",
            "wss://gw-1.example.com/gateway",
            "WSS://gw-1",
            "ws://[::1]:8080",
        ] {
            assert!(spec(ok).validate().is_ok(), "{ok}");
        }
    }

    #[test]
    fn other_endpoints_are_invalid_and_name_the_field() {
        for bad in [
            "",
            "http://gw-1",
            "gw-1:8080",
            "ws://",
            "ws://:8080",
            "ws:///path",
            "ws://gw 1",
        ] {
            let err = spec(bad).validate().expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::Invalid);
            assert_eq!(field_of(err), "endpoint", "{bad}");
        }
        let long = format!("ws://{}", "a".repeat(MAX_ENDPOINT_LEN));
        assert_eq!(field_of(spec(&long).validate().unwrap_err()), "endpoint");
    }

    #[test]
    fn max_sessions_must_be_at_least_one() {
        let spec = InstanceSpec::new("ws://gw-1", 0);
        assert_eq!(field_of(spec.validate().unwrap_err()), "max_sessions");
    }

    #[test]
    fn empty_optional_labels_are_invalid() {
        let mut s = spec("ws://gw-1");
        s.zone = Some(" ".into());
        assert_eq!(field_of(s.validate().unwrap_err()), "zone");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let mut s = spec("ws://gw-1");
        s.token = Some("s3cret-token".into());
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let instance = Instance::new(InstanceId::from_u128(1), s, datetime!(2026-01-01 0:00 UTC));
        let shown = format!("{instance:?} {instance:#?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn serialization_leaves_the_token_out_but_reads_it() {
        let mut s = spec("ws://gw-1");
        s.token = Some("s3cret-token".into());
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        let read: InstanceSpec = serde_json::from_str(
            r#"{"endpoint":"ws://gw-1","max_sessions":4,"token":"t","capabilities":["rust"]}"#,
        )
        .unwrap();
        assert_eq!(read.token.as_deref(), Some("t"));
        assert!(read.capabilities.contains("rust"));
    }

    #[test]
    fn a_new_instance_is_unknown_and_takes_no_work_until_healthy() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let mut instance = Instance::new(InstanceId::from_u128(7), spec("ws://gw-1"), now);
        assert_eq!(instance.health, InstanceHealth::Unknown);
        assert_eq!((instance.load, instance.registered_at), (0, now));
        assert!(instance.last_heartbeat.is_none() && !instance.draining);
        assert!(!instance.accepts_work());
        instance.health = InstanceHealth::Healthy;
        assert!(instance.accepts_work());
        instance.draining = true;
        assert!(!instance.accepts_work());
        instance.draining = false;
        instance.health = InstanceHealth::Degraded;
        assert!(!instance.accepts_work());
    }

    #[test]
    fn spec_round_trips_through_an_instance() {
        let mut s = spec("wss://gw-1");
        s.region = Some("eu-west".into());
        s.token = Some("t".into());
        let instance = Instance::new(
            InstanceId::from_u128(1),
            s.clone(),
            datetime!(2026-01-01 0:00 UTC),
        );
        assert_eq!(instance.spec(), s);
    }

    #[test]
    fn utilisation_and_free_slots_follow_load() {
        let mut instance = Instance::new(
            InstanceId::from_u128(1),
            spec("ws://gw"),
            datetime!(2026-01-01 0:00 UTC),
        );
        instance.load = 4;
        assert!((instance.utilisation() - 0.4).abs() < 1e-9);
        assert_eq!(instance.free_slots(), 6);
        instance.load = 12;
        assert_eq!(instance.free_slots(), 0);
        instance.max_sessions = 0;
        assert!((instance.utilisation() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn endpoint_keys_ignore_case_of_host_and_a_trailing_slash() {
        assert_eq!(
            endpoint_key("WSS://GW-1:8080/"),
            endpoint_key("wss://gw-1:8080")
        );
        assert_eq!(endpoint_key("ws://gw/Path/"), "ws://gw/Path");
        assert_ne!(endpoint_key("ws://gw-1"), endpoint_key("wss://gw-1"));
    }
}
