//! The Prometheus recorder (process-global, installed once) and `GET /metrics`.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

use super::names;

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE_PROMETHEUS: &str = "text/plain; version=0.0.4";

/// The recorder's handle, once installed.
static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Why the Prometheus recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The exporter refused its configuration, or another recorder is already installed.
    #[error("installing the prometheus recorder: {0}")]
    Install(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Installs the process-global Prometheus recorder (no HTTP listener: `/metrics` serves it) with
/// the histogram buckets of PRD 12.1, describes Godel's metrics, and returns the render function
/// for [`AppStateBuilder::metrics`](crate::AppStateBuilder::metrics).
///
/// Calling it again returns the installed recorder's render function. Histogram upkeep runs on
/// each render and on each tick of [`spawn_gauge_sampler`](crate::ops::spawn_gauge_sampler).
///
/// # Errors
/// [`MetricsError::Install`] when another (non-Godel) recorder is already installed.
pub fn install_prometheus() -> Result<Arc<dyn Fn() -> String + Send + Sync>, MetricsError> {
    let mut installed = HANDLE.lock().unwrap_or_else(PoisonError::into_inner);
    let handle = match &*installed {
        Some(handle) => handle.clone(),
        None => {
            let handle = builder()
                .map_err(|e| MetricsError::Install(Box::new(e)))?
                .install_recorder()
                .map_err(|e| MetricsError::Install(Box::new(e)))?;
            describe();
            installed.insert(handle).clone()
        }
    };
    Ok(Arc::new(move || {
        handle.run_upkeep();
        handle.render()
    }))
}

/// Drains histogram samples into their buckets, so memory stays bounded between scrapes.
pub(super) fn upkeep() {
    let installed = HANDLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = &*installed {
        handle.run_upkeep();
    }
}

/// The exporter with Godel's histogram buckets.
fn builder() -> Result<PrometheusBuilder, metrics_exporter_prometheus::BuildError> {
    let fast = [
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(names::API_DURATION.into()), &fast)?
        .set_buckets_for_metric(
            Matcher::Full(godel_engine::metrics::TASK_DURATION.into()),
            &[0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(names::SESSION_DURATION.into()),
            &[60.0, 300.0, 600.0, 1800.0, 3600.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(godel_engine::metrics::DISPATCH_LATENCY.into()),
            &[
                0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
            ],
        )?
        .set_buckets_for_metric(Matcher::Full(names::AGENT_HEARTBEAT_LATENCY.into()), &fast)
}

/// Describes the metrics of PRD 12.1 and Godel's own.
fn describe() {
    use godel_engine::metrics as engine;
    describe_counter!(
        engine::TASKS_CREATED,
        "Tasks accepted, by priority and tenant"
    );
    describe_counter!(
        engine::TASKS_COMPLETED,
        "Task attempts that ended, by priority and status"
    );
    describe_histogram!(
        engine::TASK_DURATION,
        Unit::Seconds,
        "Time from a run's start to its end, by priority"
    );
    describe_histogram!(
        engine::DISPATCH_LATENCY,
        Unit::Seconds,
        "Time from a task becoming due to its run starting on a gateway"
    );
    describe_counter!(engine::ERRORS, "Errors, by type and component");
    describe_counter!(
        engine::EVENTS_PUBLISHED,
        "Domain events published, by event name"
    );
    describe_counter!(
        engine::AUDIT_EVENTS_DROPPED,
        "Events the audit writer could not record"
    );
    describe_gauge!(
        names::QUEUE_DEPTH,
        "Due tasks waiting, by priority and tenant"
    );
    describe_gauge!(
        names::AGENTS_CONNECTED,
        "Agents, by status (tenant is `fleet`: agents are shared)"
    );
    describe_gauge!(
        names::AGENT_LOAD,
        Unit::Percent,
        "Share of an agent's capacity in use"
    );
    describe_histogram!(
        names::AGENT_HEARTBEAT_LATENCY,
        Unit::Seconds,
        "Latency of agent heartbeats"
    );
    describe_gauge!(names::SESSIONS_ACTIVE, "Open sessions, by state and tenant");
    describe_counter!(
        crate::shed::REQUESTS_SHED,
        "Requests refused with 503 because too many were in progress"
    );
    describe_counter!(
        engine::CIRCUIT_BREAKER_TRANSITIONS,
        "Circuit-breaker transitions of gateway instances, by instance and new state"
    );
    describe_histogram!(
        names::SESSION_DURATION,
        Unit::Seconds,
        "Lifetime of closed sessions"
    );
    describe_counter!(
        names::API_REQUESTS,
        "HTTP requests, by method, route template and status"
    );
    describe_histogram!(
        names::API_DURATION,
        Unit::Seconds,
        "HTTP request duration, by route template"
    );
    describe_gauge!(crate::events::CONNECTIONS, "Open /events WebSockets");
}

/// `GET /metrics`.
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// The Prometheus text exposition; 503 when no recorder was given to the state.
async fn metrics(State(state): State<AppState>) -> Response {
    match state.render_metrics() {
        Some(text) => ([(CONTENT_TYPE, CONTENT_TYPE_PROMETHEUS)], text).into_response(),
        None => ApiError::new(
            ErrorCode::ServiceUnavailable,
            "metrics are not enabled on this server",
        )
        .into_response(),
    }
}
