//! `/instances` (also under `/pi/instances`): the federation registry: list, register and
//! deregister (admin), one instance's health.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use godel_engine::Page;
use godel_federation::{Instance, InstanceSpec};
use godel_types::{InstanceHealth, InstanceId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Params, PathId};
use super::list_doc::PageQuery;
use super::paging::{ListParams, page_in_memory};
use super::schema::{ErrorSchema, InstancePageSchema, InstanceSchema, InstanceSpecSchema};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, register))
        .routes(routes!(deregister))
        .routes(routes!(health))
}

/// Lists instances, paged by id.
#[utoipa::path(get, path = "/instances", tag = "instances", params(PageQuery),
    responses((status = 200, description = "a page of instances", body = InstancePageSchema)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<Instance>>, ApiError> {
    principal.require(Role::Viewer)?;
    params.only("/instances", &[])?;
    let all = state.engine().instances().list();
    Ok(Json(page_in_memory("instance", all, &params, |i| {
        i.id.to_string()
    })?))
}

/// Registers an OpenClaw gateway as an instance.
#[utoipa::path(post, path = "/instances", tag = "instances", request_body = InstanceSpecSchema,
    responses((status = 201, description = "registered", body = InstanceSchema)))]
async fn register(
    State(state): State<AppState>,
    principal: Principal,
    Body(spec): Body<InstanceSpec>,
) -> Result<(StatusCode, Json<Instance>), ApiError> {
    principal.require(Role::Admin)?;
    let instance = state.engine().instances().register(spec).await?;
    Ok((StatusCode::CREATED, Json(instance)))
}

/// Deregisters an instance: its work fails over, its agents are removed.
#[utoipa::path(delete, path = "/instances/{id}", tag = "instances",
    params(("id" = Uuid, Path, description = "instance id")),
    responses((status = 200, description = "the instance as it was", body = InstanceSchema),
        (status = 404, description = "no such instance", body = ErrorSchema)))]
async fn deregister(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<InstanceId>,
) -> Result<Json<Instance>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(state.engine().instances().deregister(id).await?))
}

/// An instance's health as the registry last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InstanceHealthView {
    /// The instance.
    #[schema(value_type = uuid::Uuid)]
    pub id: InstanceId,
    /// `unknown`, `healthy`, `degraded` or `unhealthy`.
    #[schema(value_type = String)]
    pub health: InstanceHealth,
    /// Sessions it runs now.
    pub load: u32,
    /// Most sessions it may run.
    pub max_sessions: u32,
    /// Its last successful probe.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_heartbeat: Option<OffsetDateTime>,
    /// Being removed: takes no new work.
    pub draining: bool,
}

/// One instance's health.
#[utoipa::path(get, path = "/instances/{id}/health", tag = "instances",
    params(("id" = Uuid, Path, description = "instance id")),
    responses((status = 200, description = "its health", body = InstanceHealthView),
        (status = 404, description = "no such instance", body = ErrorSchema)))]
async fn health(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<InstanceId>,
) -> Result<Json<InstanceHealthView>, ApiError> {
    principal.require(Role::Viewer)?;
    let i = state.engine().instances().get(id)?;
    Ok(Json(InstanceHealthView {
        id: i.id,
        health: i.health,
        load: i.load,
        max_sessions: i.max_sessions,
        last_heartbeat: i.last_heartbeat,
        draining: i.draining,
    }))
}
