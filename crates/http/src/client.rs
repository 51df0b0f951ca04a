//! The typed client of the Godel API (feature `client`): every REST route of `API.md` as a
//! method of [`Client`], and the `/events` WebSocket as a stream ([`Client::events`]).
//!
//! Answers decode into the same types the server serializes (the engine's [`Task`], [`Page`],
//! [`TeamProgress`], [`AgentStatusView`]; the lifecycle's [`SessionRecord`], [`AgentRecord`];
//! the federation's [`Instance`]); shapes the engine has no type for (API keys, health, audit,
//! queue depth with its extra counters) have small, tolerant structs in [`model`]. Every method
//! returns a [`Call`]: `.await` it for the typed answer, or call [`Call::raw`] for the JSON
//! exactly as the server sent it (what `godel --json` prints).
//!
//! What it is not: it holds no retry policy and no business rules; a failed call is a
//! [`ClientError`] naming what failed (the PRD 10.2 error body, the unreachable URL, the answer
//! that did not decode). It never names reqwest or tungstenite in its API.

mod call;
mod error;
mod events;
pub mod model;
mod routes;
mod wire;

use std::time::Duration;

use reqwest::Url;

pub use self::call::Call;
pub use self::error::{BoxError, ClientError, ErrorKind};
pub use self::model::{
    ApiKeyCreated, ApiKeyInfo, AuditRecord, CreateApiKey, DeadLetterQuery, EventMessage, Health,
    HealthCheck, InstanceHealthReport, Listing, MigrateSession, PriorityCounts, QueueDepth,
    ReplayFilter, ReplayOutcome, TaskQuery, TaskUpdate,
};

// The types answers decode into, so a front end never names the engine's crates.
pub use godel_engine::{
    AgentStatusView, CreateSession, Page, RegisterAgent, SubmitTask, Task, TeamProgress,
};
pub use godel_federation::{Instance, InstanceSpec};
pub use godel_lifecycle::{
    AgentRecord, Checkpoint, RunRecord, SessionConfig, SessionRecord, StateChange,
};
pub use godel_types::{
    AgentId, AgentStatus, ApiKeyId, Capabilities, InstanceHealth, InstanceId, ParseError, Priority,
    Role, SessionId, SessionState, TaskId, TaskStatus, TeamId, TenantId,
};
pub use time::OffsetDateTime;

/// The default address of a local Godel server.
pub const DEFAULT_URL: &str = "http://127.0.0.1:7373";

/// How long establishing a connection may take by default.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take by default.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one Godel server. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    credential: Option<Credential>,
}

/// How requests authenticate.
#[derive(Clone)]
enum Credential {
    /// `X-API-Key: dk_...`.
    ApiKey(String),
    /// `Authorization: Bearer <jwt>`.
    Bearer(String),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("authenticated", &self.credential.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:7373`), authenticating
    /// with `api_key` when given. A credential shaped like a JWT (three dot-separated parts,
    /// not starting with `dk_`) is sent as `Authorization: Bearer`, anything else as
    /// `X-API-Key`. Requests time out after 30 s (connecting after 5 s).
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] when `base_url` is not an `http://` or `https://` URL with
    /// a host; [`ClientError::Connect`] when the HTTP stack cannot be initialised.
    pub fn try_new(base_url: &str, api_key: Option<String>) -> Result<Self, ClientError> {
        Self::with_timeout(base_url, api_key, REQUEST_TIMEOUT)
    }

    /// Like [`Client::try_new`], with requests timing out after `timeout`.
    ///
    /// # Errors
    /// As [`Client::try_new`].
    pub fn with_timeout(
        base_url: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let base = parse_base(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent(concat!("godel-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Connect {
                url: base.to_string(),
                source: Box::new(e),
            })?;
        let credential = api_key
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .map(|k| {
                if !k.starts_with("dk_") && k.split('.').count() == 3 {
                    Credential::Bearer(k)
                } else {
                    Credential::ApiKey(k)
                }
            });
        Ok(Self {
            http,
            base,
            credential,
        })
    }

    /// The server's base URL, as given (normalised).
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// Whether a credential is configured.
    #[must_use]
    pub fn has_credential(&self) -> bool {
        self.credential.is_some()
    }

    /// `base` + `segments` (each percent-encoded), without a query.
    fn url(&self, segments: &[String]) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| ClientError::invalid_url(self.base.as_str(), "cannot be a base"))?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(url)
    }
}

/// Checks and normalises a base URL: `http(s)://host[:port][/prefix]`, no query.
fn parse_base(base_url: &str) -> Result<Url, ClientError> {
    let trimmed = base_url.trim();
    let url = Url::parse(trimmed).map_err(|e| ClientError::invalid_url(trimmed, e))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::invalid_url(
            trimmed,
            format!("scheme {:?}: expected http or https", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ClientError::invalid_url(trimmed, "it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::invalid_url(
            trimmed,
            "it must not have a query or fragment",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_joined_with_encoded_segments() {
        let c = Client::try_new("http://127.0.0.1:7373/", None).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:7373");
        let url = c
            .url(&[
                "api".into(),
                "v1".into(),
                "agents".into(),
                "team/a b".into(),
            ])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:7373/api/v1/agents/team%2Fa%20b"
        );

        let prefixed = Client::try_new("https://godel.example/edge", None).unwrap();
        let url = prefixed.url(&["health".into()]).unwrap();
        assert_eq!(url.as_str(), "https://godel.example/edge/health");

        for bad in [
            "",
            "127.0.0.1:7373",
            "ftp://host",
            "http://host/?q=1",
            "not a url",
        ] {
            let e = Client::try_new(bad, None).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{bad}: {e}");
        }
    }

    #[test]
    fn credentials_pick_their_header() {
        let key = Client::try_new(DEFAULT_URL, Some("dk_live_abc".into())).unwrap();
        assert!(matches!(key.credential, Some(Credential::ApiKey(_))));
        let jwt = Client::try_new(DEFAULT_URL, Some("a.b.c".into())).unwrap();
        assert!(matches!(jwt.credential, Some(Credential::Bearer(_))));
        let blank = Client::try_new(DEFAULT_URL, Some("  ".into())).unwrap();
        assert!(!blank.has_credential());
    }
}
