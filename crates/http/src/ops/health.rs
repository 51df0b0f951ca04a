//! `/health`, `/health/live` and `/health/ready` (PRD FR-9, US-004): every [`HealthProbe`] run
//! concurrently, each bounded by `probe_timeout` (a timeout is a failure), plus the gateway
//! fleet as the engine's instance registry sees it.
//!
//! - a failed critical probe (the store) makes the server `unhealthy` (503) and not ready;
//! - a failed non-critical probe (Redis), or no healthy gateway instance, makes it `degraded`
//!   (still 200: it serves what it can).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use godel_types::InstanceHealth;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::time::Instant;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::{AppState, HealthProbe, ProbeReport};

/// How the server or one of its dependencies is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything answers.
    Healthy,
    /// Serving, without a non-critical dependency or without a healthy gateway.
    Degraded,
    /// A critical dependency failed.
    Unhealthy,
}

/// The body of `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// The worst of the checks.
    pub status: HealthStatus,
    /// The server's version.
    pub version: String,
    /// One entry per dependency.
    pub checks: Checks,
    /// When the checks ran.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: OffsetDateTime,
}

/// The checks of `/health`: one per probe (`database`, `redis`), and `openclaw`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Checks {
    /// The probed dependencies, by name.
    #[serde(flatten)]
    pub probes: BTreeMap<String, DependencyCheck>,
    /// The gateway fleet.
    pub openclaw: OpenClawCheck,
}

/// One probed dependency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DependencyCheck {
    /// `healthy`, or `unhealthy` when the probe failed or timed out.
    pub status: HealthStatus,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The gateway fleet: `degraded` when no instance is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OpenClawCheck {
    /// `healthy` when at least one instance is, else `degraded`.
    pub status: HealthStatus,
    /// Instances by health.
    pub instances: InstanceCounts,
}

/// Gateway instances by health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct InstanceCounts {
    /// All registered instances.
    pub total: u32,
    /// Answering probes.
    pub healthy: u32,
    /// Missing some probes.
    pub degraded: u32,
    /// Down.
    pub unhealthy: u32,
    /// Not probed yet.
    pub unknown: u32,
}

/// The body of `GET /health/live`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Liveness {
    /// Always `alive`.
    pub status: LiveStatus,
}

/// The process is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LiveStatus {
    /// It answers.
    Alive,
}

/// The body of `GET /health/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `not_ready` when a critical dependency failed.
    pub status: ReadyStatus,
    /// What failed, when not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether the server can take traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    /// Its critical dependencies answer.
    Ready,
    /// A critical dependency failed.
    NotReady,
}

/// The three health routes.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(live))
        .routes(routes!(ready))
}

/// Deep health: every dependency probed.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "health",
    responses(
        (status = 200, description = "Healthy or degraded", body = Health),
        (status = 503, description = "A critical dependency failed", body = Health),
    ),
)]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let health = check(&state).await;
    let code = if health.status == HealthStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(health))
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health/live",
    operation_id = "health_live",
    tag = "health",
    responses((status = 200, description = "The process is running", body = Liveness)),
)]
async fn live() -> Json<Liveness> {
    Json(Liveness {
        status: LiveStatus::Alive,
    })
}

/// Readiness: the critical dependencies answer.
#[utoipa::path(
    get,
    path = "/health/ready",
    operation_id = "health_ready",
    tag = "health",
    responses(
        (status = 200, description = "Ready for traffic", body = Readiness),
        (status = 503, description = "A critical dependency failed, or the server is draining", body = Readiness),
    ),
)]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    if !state.engine().is_accepting() {
        let body = Readiness {
            status: ReadyStatus::NotReady,
            reason: Some("shutting down: draining running tasks".to_owned()),
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let failures: Vec<String> = run_probes(&state)
        .await
        .into_iter()
        .filter(|(probe, report)| probe.critical() && report.status != "healthy")
        .map(|(probe, report)| {
            format!(
                "{}: {}",
                probe.name(),
                report.message.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    if failures.is_empty() {
        let body = Readiness {
            status: ReadyStatus::Ready,
            reason: None,
        };
        (StatusCode::OK, Json(body))
    } else {
        let body = Readiness {
            status: ReadyStatus::NotReady,
            reason: Some(failures.join("; ")),
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    }
}

/// Runs every check and sums them up.
pub async fn check(state: &AppState) -> Health {
    let mut status = HealthStatus::Healthy;
    let mut probes = BTreeMap::new();
    for (probe, report) in run_probes(state).await {
        let healthy = report.status == "healthy";
        if !healthy {
            let worst = if probe.critical() {
                HealthStatus::Unhealthy
            } else {
                HealthStatus::Degraded
            };
            status = status.max(worst);
        }
        probes.insert(
            probe.name().to_owned(),
            DependencyCheck {
                status: if healthy {
                    HealthStatus::Healthy
                } else {
                    HealthStatus::Unhealthy
                },
                latency_ms: report.latency_ms,
                message: report.message,
            },
        );
    }
    let openclaw = fleet(state);
    status = status.max(openclaw.status);
    Health {
        status,
        version: state.version().to_owned(),
        checks: Checks { probes, openclaw },
        timestamp: OffsetDateTime::now_utc(),
    }
}

/// Runs every probe at once, each bounded by the probe timeout.
async fn run_probes(state: &AppState) -> Vec<(Arc<dyn HealthProbe>, ProbeReport)> {
    let limit = state.options().probe_timeout;
    let runs = state.probes().iter().map(|probe| async move {
        let started = Instant::now();
        let outcome = tokio::time::timeout(limit, probe.probe()).await;
        let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let (status, message) = match outcome {
            Ok(Ok(())) => ("healthy", None),
            Ok(Err(message)) => ("unhealthy", Some(message)),
            Err(_) => ("unhealthy", Some(format!("no answer within {limit:?}"))),
        };
        if let Some(message) = &message {
            tracing::warn!(probe = probe.name(), %message, "health probe failed");
        }
        let report = ProbeReport {
            status,
            latency_ms,
            message,
        };
        (Arc::clone(probe), report)
    });
    futures_util::future::join_all(runs).await
}

/// The gateway fleet from the engine's instance registry.
fn fleet(state: &AppState) -> OpenClawCheck {
    let mut instances = InstanceCounts::default();
    for instance in state.engine().instances().list() {
        instances.total += 1;
        match instance.health {
            InstanceHealth::Healthy => instances.healthy += 1,
            InstanceHealth::Degraded => instances.degraded += 1,
            InstanceHealth::Unhealthy => instances.unhealthy += 1,
            InstanceHealth::Unknown => instances.unknown += 1,
        }
    }
    let status = if instances.healthy > 0 {
        HealthStatus::Healthy
    } else {
        HealthStatus::Degraded
    };
    OpenClawCheck { status, instances }
}
