//! `/agents`: list, register (admin), an agent's status with live load. Agents form one pool
//! serving every tenant, so these lists are fleet-wide.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use godel_engine::{AgentStatusView, Page, RegisterAgent};
use godel_lifecycle::AgentRecord;
use godel_types::AgentId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Params, PathId};
use super::list_doc::PageQuery;
use super::paging::{ListParams, page_in_memory};
use super::schema::{
    AgentPageSchema, AgentSchema, AgentStatusSchema, ErrorSchema, NameSchema, RegisterAgentSchema,
};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, register))
        .routes(routes!(status))
}

/// Lists agents, paged by id.
#[utoipa::path(get, path = "/agents", tag = "agents", params(PageQuery),
    responses((status = 200, description = "a page of agents", body = AgentPageSchema)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<AgentRecord>>, ApiError> {
    principal.require(Role::Viewer)?;
    params.only("/agents", &[])?;
    let all = state.engine().agents().list().await?;
    Ok(Json(page_in_memory("agent", all, &params, |a| {
        a.id.to_string()
    })?))
}

/// Registers an agent on an instance.
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = RegisterAgentSchema,
    responses((status = 201, description = "registered", body = AgentSchema),
        (status = 404, description = "unknown instance", body = ErrorSchema),
        (status = 409, description = "an agent of that name exists", body = ErrorSchema)))]
async fn register(
    State(state): State<AppState>,
    principal: Principal,
    Body(request): Body<RegisterAgent>,
) -> Result<(StatusCode, Json<AgentRecord>), ApiError> {
    principal.require(Role::Admin)?;
    let agent = state.engine().agents().register(request).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// An agent with its active tasks and the queue depth.
#[utoipa::path(get, path = "/agents/{id}/status", tag = "agents",
    params(("id" = NameSchema, Path, description = "agent id (its name)")),
    responses((status = 200, description = "the agent's status", body = AgentStatusSchema),
        (status = 404, description = "no such agent", body = ErrorSchema)))]
async fn status(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<AgentId>,
) -> Result<Json<AgentStatusView>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(state.engine().agents().status(&id).await?))
}
