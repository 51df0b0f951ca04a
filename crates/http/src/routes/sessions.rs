//! `/sessions`: list, open (operator), one session with its history, and the lifecycle
//! commands pause, resume, checkpoint, terminate, migrate (operator).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use godel_engine::{CreateSession, Page};
use godel_lifecycle::{Checkpoint, SessionFilter, SessionRecord};
use godel_types::{AgentId, SessionId, SessionState, TeamId, TenantId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, OptionalBody, Params, PathId};
use super::list_doc::SessionsQuery;
use super::paging::{ListParams, decode_cursor, encode_cursor, parse_value};
use super::schema::{
    CheckpointSchema, CreateSessionSchema, ErrorSchema, SessionPageSchema, SessionSchema,
};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// Cursor tag of session lists.
const CURSOR: &str = "session";
/// Page size used to count a tenant's sessions.
const COUNT_PAGE: usize = 500;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(checkpoint))
        .routes(routes!(terminate))
        .routes(routes!(migrate))
}

fn filter_of(params: &ListParams) -> Result<SessionFilter, ApiError> {
    let filters = params.only("/sessions", &["status", "agent_id", "team_id"])?;
    Ok(SessionFilter {
        states: filters
            .status
            .iter()
            .map(|s| parse_value::<SessionState>("status", s))
            .collect::<Result<_, _>>()?,
        agent: filters
            .agent_id
            .as_deref()
            .map(|a| AgentId::parse(a).map_err(|e| ApiError::invalid(format!("agent_id: {e}"))))
            .transpose()?,
        team: filters
            .team_id
            .as_deref()
            .map(|t| TeamId::parse(t).map_err(|e| ApiError::invalid(format!("team_id: {e}"))))
            .transpose()?,
        ..SessionFilter::default()
    })
}

/// Counts the sessions matching `filter` (the repository port offers no count).
async fn count(
    state: &AppState,
    tenant: &TenantId,
    filter: &SessionFilter,
) -> Result<u64, ApiError> {
    let sessions = state.engine().sessions();
    let (mut total, mut after) = (0u64, None);
    loop {
        let page = sessions
            .list(tenant, filter.clone(), after, COUNT_PAGE)
            .await?;
        total += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == COUNT_PAGE => after = Some(last.id),
            _ => return Ok(total),
        }
    }
}

/// Lists the tenant's sessions, paged.
#[utoipa::path(get, path = "/sessions", tag = "sessions", params(SessionsQuery),
    responses((status = 200, description = "a page of sessions", body = SessionPageSchema)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<SessionRecord>>, ApiError> {
    principal.require(Role::Viewer)?;
    let filter = filter_of(&params)?;
    let limit = params.limit()?;
    let after = match params.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            SessionId::parse(&decode_cursor(CURSOR, c)?)
                .map_err(|_| ApiError::invalid("cursor: not a cursor of this list"))?,
        ),
    };
    let sessions = state.engine().sessions();
    let mut items = sessions
        .list(&principal.tenant, filter.clone(), after, limit + 1)
        .await?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more {
        items
            .last()
            .map(|s| encode_cursor(CURSOR, &s.id.to_string()))
    } else {
        None
    };
    let total = count(&state, &principal.tenant, &filter).await?;
    Ok(Json(Page {
        items,
        next_cursor,
        total,
    }))
}

/// The body of `POST /sessions` as read from the wire: `openclaw_config` must be a JSON
/// object (serde would also read the engine's struct from an array of its fields).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSessionBody {
    #[serde(default)]
    agent_id: Option<AgentId>,
    #[serde(default)]
    team_id: Option<TeamId>,
    #[serde(default)]
    openclaw_config: serde_json::Map<String, serde_json::Value>,
}

impl CreateSessionBody {
    /// The engine's request.
    fn into_request(self) -> Result<CreateSession, ApiError> {
        let openclaw_config = serde_json::from_value(self.openclaw_config.into())
            .map_err(|e| ApiError::invalid(format!("openclaw_config: {e}")))?;
        Ok(CreateSession {
            agent_id: self.agent_id,
            team_id: self.team_id,
            openclaw_config,
        })
    }
}

/// Opens a session on an agent (the router's choice unless `agent_id` is given).
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = CreateSessionSchema,
    responses((status = 201, description = "opened", body = SessionSchema),
        (status = 404, description = "unknown agent", body = ErrorSchema)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Body(body): Body<CreateSessionBody>,
) -> Result<(StatusCode, Json<SessionRecord>), ApiError> {
    principal.require(Role::Operator)?;
    let request = body.into_request()?;
    let session = state
        .engine()
        .sessions()
        .create(&principal.tenant, request)
        .await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// One session with its state history.
#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions",
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 200, description = "the session", body = SessionSchema),
        (status = 404, description = "no such session for this tenant", body = ErrorSchema)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<SessionId>,
) -> Result<Json<SessionRecord>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(
        state.engine().sessions().get(&principal.tenant, id).await?,
    ))
}

/// Pauses a session.
#[utoipa::path(post, path = "/sessions/{id}/pause", tag = "sessions",
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 200, description = "paused", body = SessionSchema),
        (status = 404, description = "no such session", body = ErrorSchema),
        (status = 409, description = "it cannot pause now", body = ErrorSchema)))]
async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<SessionId>,
) -> Result<Json<SessionRecord>, ApiError> {
    principal.require(Role::Operator)?;
    Ok(Json(
        state
            .engine()
            .sessions()
            .pause(&principal.tenant, id)
            .await?,
    ))
}

/// Resumes a paused session.
#[utoipa::path(post, path = "/sessions/{id}/resume", tag = "sessions",
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 200, description = "resumed", body = SessionSchema),
        (status = 404, description = "no such session", body = ErrorSchema),
        (status = 409, description = "it is not paused", body = ErrorSchema)))]
async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<SessionId>,
) -> Result<Json<SessionRecord>, ApiError> {
    principal.require(Role::Operator)?;
    Ok(Json(
        state
            .engine()
            .sessions()
            .resume(&principal.tenant, id)
            .await?,
    ))
}

/// Body of a checkpoint request (optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRequest {
    /// A name for the checkpoint.
    #[serde(default)]
    pub name: Option<String>,
}

/// Saves a checkpoint of a session.
#[utoipa::path(post, path = "/sessions/{id}/checkpoint", tag = "sessions",
    params(("id" = Uuid, Path, description = "session id")),
    request_body(content = Option<CheckpointRequest>, description = "optional"),
    responses((status = 201, description = "saved", body = CheckpointSchema),
        (status = 404, description = "no such session", body = ErrorSchema),
        (status = 409, description = "it cannot be checkpointed now", body = ErrorSchema)))]
async fn checkpoint(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<SessionId>,
    OptionalBody(body): OptionalBody<CheckpointRequest>,
) -> Result<(StatusCode, Json<Checkpoint>), ApiError> {
    principal.require(Role::Operator)?;
    let name = body.and_then(|b| b.name);
    let saved = state
        .engine()
        .sessions()
        .checkpoint(&principal.tenant, id, name)
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Terminates a session.
#[utoipa::path(post, path = "/sessions/{id}/terminate", tag = "sessions",
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 200, description = "terminated", body = SessionSchema),
        (status = 404, description = "no such session", body = ErrorSchema),
        (status = 409, description = "it already ended", body = ErrorSchema)))]
async fn terminate(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<SessionId>,
) -> Result<Json<SessionRecord>, ApiError> {
    principal.require(Role::Operator)?;
    Ok(Json(
        state
            .engine()
            .sessions()
            .terminate(&principal.tenant, id)
            .await?,
    ))
}

/// Body of a migrate request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateRequest {
    /// The agent to move the session to.
    #[schema(value_type = super::schema::NameSchema)]
    pub agent_id: AgentId,
}

/// Migrates a session to another agent (from its latest checkpoint).
#[utoipa::path(post, path = "/sessions/{id}/migrate", tag = "sessions",
    params(("id" = Uuid, Path, description = "session id")), request_body = MigrateRequest,
    responses((status = 200, description = "migrated", body = SessionSchema),
        (status = 404, description = "no such session or agent", body = ErrorSchema),
        (status = 409, description = "it cannot migrate now", body = ErrorSchema)))]
async fn migrate(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<SessionId>,
    Body(request): Body<MigrateRequest>,
) -> Result<Json<SessionRecord>, ApiError> {
    principal.require(Role::Operator)?;
    Ok(Json(
        state
            .engine()
            .sessions()
            .migrate(&principal.tenant, id, &request.agent_id)
            .await?,
    ))
}
