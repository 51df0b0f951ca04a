//! [`AppState`]: what every handler may reach, shared behind one `Arc`. The `godel` crate
//! builds it from the engine and the stores it opened; tests build it over in-memory ports.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use godel_engine::Engine;
use godel_engine::access::{
    ApiKeyStore, AuditLog, MemoryApiKeyStore, MemoryAuditLog, MemoryRateLimiter, RateLimiter,
};
use serde::Serialize;

/// The JWT settings: HS256 with a secret of at least 32 bytes (checked by the builder).
#[derive(Clone)]
pub struct JwtSettings {
    /// The HMAC secret.
    pub secret: Vec<u8>,
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud`.
    pub audience: String,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
}

impl fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// Tunables of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest request body accepted (default 1 MiB).
    pub body_limit: usize,
    /// Requests per second each credential may make, sustained (default 100).
    pub rate_per_second: f64,
    /// Burst size of each credential's bucket (default 200).
    pub rate_burst: u32,
    /// `/metrics` answers anyone (default: loopback callers only).
    pub metrics_public: bool,
    /// The `Sunset` date sent on the deprecated `/api` alias (an HTTP date).
    pub sunset: String,
    /// Interval of WebSocket pings (default 30 s).
    pub ws_ping_interval: Duration,
    /// Events buffered per WebSocket client before it is dropped as too slow (default 1024).
    pub ws_buffer: usize,
    /// Time each health probe may take before it counts as failed (default 2 s).
    pub probe_timeout: Duration,
    /// Requests served at once; beyond, requests get 503 at once (default 1024; see
    /// [`shed`](crate::shed)).
    pub max_in_flight: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            body_limit: 1 << 20,
            rate_per_second: 100.0,
            rate_burst: 200,
            metrics_public: false,
            sunset: "Sat, 01 May 2027 00:00:00 GMT".to_owned(),
            ws_ping_interval: Duration::from_secs(30),
            ws_buffer: 1024,
            probe_timeout: Duration::from_secs(2),
            max_in_flight: 1024,
        }
    }
}

/// The result of one health probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: &'static str,
    /// How long the probe took.
    pub latency_ms: f64,
    /// Why it is not healthy, if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A dependency `/health` checks: the store, Redis. Gateways are checked through the engine.
#[async_trait]
pub trait HealthProbe: Send + Sync {
    /// The name of its entry under `checks` (`database`, `redis`).
    fn name(&self) -> &'static str;

    /// Whether a failure makes the server `unhealthy` (the store) rather than `degraded`.
    fn critical(&self) -> bool;

    /// Probes the dependency once. The caller bounds the time it may take.
    ///
    /// # Errors
    /// A message saying what failed.
    async fn probe(&self) -> Result<(), String>;
}

/// Everything a handler may reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    api_keys: Arc<dyn ApiKeyStore>,
    audit: Arc<dyn AuditLog>,
    limiter: Arc<dyn RateLimiter>,
    jwt: Option<JwtSettings>,
    probes: Vec<Arc<dyn HealthProbe>>,
    metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    options: HttpOptions,
    version: String,
    events: Arc<crate::events::render::Renderer>,
    closing: tokio::sync::watch::Sender<bool>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("jwt", &self.inner.jwt)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A builder over `engine`, with in-memory key, audit and rate-limit stores until replaced.
    #[must_use]
    pub fn builder(engine: Engine) -> AppStateBuilder {
        AppStateBuilder {
            engine,
            api_keys: Arc::new(MemoryApiKeyStore::default()),
            audit: Arc::new(MemoryAuditLog::default()),
            limiter: Arc::new(MemoryRateLimiter::default()),
            jwt: None,
            probes: Vec::new(),
            metrics: None,
            options: HttpOptions::default(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The API key store.
    #[must_use]
    pub fn api_keys(&self) -> &Arc<dyn ApiKeyStore> {
        &self.inner.api_keys
    }

    /// The audit log.
    #[must_use]
    pub fn audit(&self) -> &Arc<dyn AuditLog> {
        &self.inner.audit
    }

    /// The per-credential rate limiter.
    #[must_use]
    pub fn limiter(&self) -> &Arc<dyn RateLimiter> {
        &self.inner.limiter
    }

    /// The JWT settings; `None` when JWT authentication is off.
    #[must_use]
    pub fn jwt(&self) -> Option<&JwtSettings> {
        self.inner.jwt.as_ref()
    }

    /// The dependencies `/health` probes.
    #[must_use]
    pub fn probes(&self) -> &[Arc<dyn HealthProbe>] {
        &self.inner.probes
    }

    /// Renders the Prometheus text exposition, when a recorder is installed.
    #[must_use]
    pub fn render_metrics(&self) -> Option<String> {
        self.inner.metrics.as_ref().map(|render| render())
    }

    /// The HTTP tunables.
    #[must_use]
    pub fn options(&self) -> &HttpOptions {
        &self.inner.options
    }

    /// The renderer of `/events` frames, shared by every connection.
    pub(crate) fn event_renderer(&self) -> Arc<crate::events::render::Renderer> {
        Arc::clone(&self.inner.events)
    }

    /// Tells long-lived connections (`/events`) that the server is shutting down.
    pub fn begin_shutdown(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Changes to `true` when [`begin_shutdown`](Self::begin_shutdown) is called.
    pub(crate) fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// The server's version, as `/health` reports it.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.inner.version
    }
}

/// Builds an [`AppState`].
pub struct AppStateBuilder {
    engine: Engine,
    api_keys: Arc<dyn ApiKeyStore>,
    audit: Arc<dyn AuditLog>,
    limiter: Arc<dyn RateLimiter>,
    jwt: Option<JwtSettings>,
    probes: Vec<Arc<dyn HealthProbe>>,
    metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    options: HttpOptions,
    version: String,
}

impl fmt::Debug for AppStateBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppStateBuilder").finish_non_exhaustive()
    }
}

/// Why an [`AppState`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The JWT secret is shorter than 256 bits.
    #[error("jwt secret: must be at least 32 bytes (256 bits), got {0}")]
    WeakJwtSecret(usize),
}

impl AppStateBuilder {
    /// Keeps API keys in `store`.
    #[must_use]
    pub fn api_keys(mut self, store: Arc<dyn ApiKeyStore>) -> Self {
        self.api_keys = store;
        self
    }

    /// Writes the audit log to `log`.
    #[must_use]
    pub fn audit(mut self, log: Arc<dyn AuditLog>) -> Self {
        self.audit = log;
        self
    }

    /// Counts rate limits in `limiter` (Redis, to share them across replicas).
    #[must_use]
    pub fn rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// Turns JWT authentication on.
    #[must_use]
    pub fn jwt(mut self, jwt: JwtSettings) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// Adds a dependency to probe on `/health`.
    #[must_use]
    pub fn probe(mut self, probe: Arc<dyn HealthProbe>) -> Self {
        self.probes.push(probe);
        self
    }

    /// Serves `/metrics` with what `render` returns (the Prometheus recorder's handle).
    #[must_use]
    pub fn metrics(mut self, render: Arc<dyn Fn() -> String + Send + Sync>) -> Self {
        self.metrics = Some(render);
        self
    }

    /// Replaces the tunables.
    #[must_use]
    pub fn options(mut self, options: HttpOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the version `/health` reports.
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The state.
    ///
    /// # Errors
    /// [`StateError::WeakJwtSecret`] when a JWT secret under 32 bytes was given.
    pub fn build(self) -> Result<AppState, StateError> {
        if let Some(jwt) = &self.jwt
            && jwt.secret.len() < 32
        {
            return Err(StateError::WeakJwtSecret(jwt.secret.len()));
        }
        Ok(AppState {
            inner: Arc::new(Inner {
                engine: self.engine,
                api_keys: self.api_keys,
                audit: self.audit,
                limiter: self.limiter,
                jwt: self.jwt,
                probes: self.probes,
                metrics: self.metrics,
                options: self.options,
                version: self.version,
                events: Arc::default(),
                closing: tokio::sync::watch::Sender::new(false),
            }),
        })
    }
}
