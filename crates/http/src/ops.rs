//! Operations: health probes, Prometheus metrics and the request metrics middleware.
//!
//! What the server wiring calls:
//! - [`routes`]: `GET /health`, `/health/live`, `/health/ready` (with their OpenAPI paths), to
//!   mount at the root and under `/api/v1` and `/api`;
//! - [`metrics_routes`]: `GET /metrics` (access control is the auth middleware's);
//! - [`install_prometheus`]: the process-global recorder, whose render function goes to
//!   [`AppStateBuilder::metrics`](crate::AppStateBuilder::metrics);
//! - [`track`]: the request metrics middleware (`axum::middleware::from_fn(track)`);
//! - [`spawn_gauge_sampler`]: the loop that keeps the queue, agent and session gauges current.
//!
//! Metric names are in [`names`] (the engine's own are in `godel_engine::metrics`).

mod exporter;
mod health;
mod sampler;
mod track;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub use exporter::{CONTENT_TYPE_PROMETHEUS, MetricsError, install_prometheus};
pub use health::{
    Checks, DependencyCheck, Health, HealthStatus, InstanceCounts, LiveStatus, Liveness,
    OpenClawCheck, Readiness, ReadyStatus, check,
};
pub use sampler::{FLEET, spawn_gauge_sampler};
pub use track::{UNMATCHED, track};

/// The names of the metrics this crate records (PRD 12.1); the engine records the task,
/// dispatch, error and event metrics named in `godel_engine::metrics`.
pub mod names {
    /// Counter: HTTP requests, by method, route template and status.
    pub const API_REQUESTS: &str = "dash_api_requests_total";
    /// Histogram: HTTP request seconds, by route template.
    pub const API_DURATION: &str = "dash_api_duration_seconds";
    /// Gauge: due tasks waiting, by priority and tenant.
    pub const QUEUE_DEPTH: &str = "dash_queue_depth";
    /// Gauge: agents, by status and tenant (`fleet`).
    pub const AGENTS_CONNECTED: &str = "dash_agents_connected";
    /// Gauge: percent of an agent's capacity in use, by agent id.
    pub const AGENT_LOAD: &str = "dash_agent_load_percent";
    /// Gauge: open sessions, by state (`status`) and tenant.
    pub const SESSIONS_ACTIVE: &str = godel_engine::metrics::SESSIONS_ACTIVE;
    /// Histogram: seconds an instance took to answer its health probe (recorded by the
    /// engine's probes).
    pub const AGENT_HEARTBEAT_LATENCY: &str = godel_engine::metrics::AGENT_HEARTBEAT_LATENCY;
    /// Histogram: closed sessions' lifetime (bucketed and described here; recorded by no one
    /// yet).
    pub const SESSION_DURATION: &str = "dash_session_duration_seconds";
}

/// `GET /health`, `GET /health/live`, `GET /health/ready`, with their OpenAPI paths (tag
/// `health`). Public routes: they need no [`Principal`](crate::Principal).
pub fn routes() -> OpenApiRouter<AppState> {
    health::router()
}

/// `GET /metrics`: the Prometheus text exposition (`text/plain; version=0.0.4`), or 503 when the
/// state was built without a recorder.
pub fn metrics_routes() -> Router<AppState> {
    exporter::router()
}
