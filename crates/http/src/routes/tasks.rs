//! `/tasks`: submit (with `Idempotency-Key`), list, get, cancel, retry, a task's events.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use godel_engine::{Page, SubmitTask, Task, TaskListQuery};
use godel_types::{AgentId, Event, Priority, TaskId, TaskStatus, TeamId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Params, PathId};
use super::list_doc::TasksQuery;
use super::paging::{ListParams, decode_cursor, encode_cursor, parse_value};
use super::schema::{ErrorSchema, EventSchema, SubmitTaskSchema, TaskPageSchema, TaskSchema};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// The header carrying an idempotency key.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest idempotency key accepted.
const MAX_KEY_LEN: usize = 255;
/// Cursor tag of task lists.
const CURSOR: &str = "task";

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get))
        .routes(routes!(cancel))
        .routes(routes!(retry))
        .routes(routes!(events))
}

/// Submits a task. `201` with the new task, `200` with the existing one when the
/// `Idempotency-Key` was seen before.
#[utoipa::path(post, path = "/tasks", tag = "tasks", request_body = SubmitTaskSchema,
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = r"^[\x21-\x7E]+$",
        description = "deduplicates retried submissions: 1 to 255 visible ASCII characters")),
    responses(
        (status = 201, description = "created", body = TaskSchema),
        (status = 200, description = "an earlier task with the same idempotency key", body = TaskSchema),
        (status = 404, description = "unknown session, parent or dependency", body = ErrorSchema),
        (status = 409, description = "the session is not open", body = ErrorSchema),
        (status = 413, description = "body over the limit", body = ErrorSchema),
    ))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Body(mut request): Body<SubmitTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    principal.require(Role::Developer)?;
    if let Some(key) = headers.get(IDEMPOTENCY_KEY) {
        let key = key
            .to_str()
            .ok()
            .filter(|k| valid_idempotency_key(k))
            .ok_or_else(|| {
                ApiError::invalid("Idempotency-Key: 1 to 255 visible ASCII characters")
            })?;
        request.idempotency_key = Some(key.to_owned());
    } else if let Some(key) = &request.idempotency_key
        && !valid_idempotency_key(key)
    {
        return Err(ApiError::invalid(
            "idempotency_key: 1 to 255 visible ASCII characters",
        ));
    }
    let submitted = state
        .engine()
        .tasks()
        .submit(&principal.tenant, request)
        .await?;
    let status = if submitted.deduplicated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(submitted.task)))
}

/// Whether `key` is 1 to [`MAX_KEY_LEN`] visible ASCII characters (header or body).
fn valid_idempotency_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The engine's query for list parameters.
pub(crate) fn task_query(params: &ListParams) -> Result<TaskListQuery, ApiError> {
    let filters = params.only(
        "/tasks",
        &["status", "priority", "agent_id", "team_id", "sort"],
    )?;
    let statuses = filters
        .status
        .iter()
        .map(|s| parse_value::<TaskStatus>("status", s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TaskListQuery {
        statuses,
        priority: filters
            .priority
            .as_deref()
            .map(|p| parse_value::<Priority>("priority", p))
            .transpose()?,
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
        newest_first: params.newest_first()?,
        cursor: params
            .cursor
            .as_deref()
            .map(|c| decode_cursor(CURSOR, c))
            .transpose()?,
        limit: Some(params.limit()?),
    })
}

/// Lists the tenant's tasks, paged.
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(TasksQuery),
    responses((status = 200, description = "a page of tasks", body = TaskPageSchema)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<Task>>, ApiError> {
    principal.require(Role::Viewer)?;
    let query = task_query(&params)?;
    let mut page = state
        .engine()
        .tasks()
        .list(&principal.tenant, &query)
        .await?;
    page.next_cursor = page.next_cursor.map(|c| encode_cursor(CURSOR, &c));
    Ok(Json(page))
}

/// One task.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks",
    params(("id" = Uuid, Path, description = "task id")),
    responses((status = 200, description = "the task", body = TaskSchema),
        (status = 404, description = "no such task for this tenant", body = ErrorSchema)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<TaskId>,
) -> Result<Json<Task>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(
        state.engine().tasks().get(&principal.tenant, id).await?,
    ))
}

/// Cancels a task (a running one is aborted on its gateway).
#[utoipa::path(post, path = "/tasks/{id}/cancel", tag = "tasks",
    params(("id" = Uuid, Path, description = "task id")),
    responses((status = 200, description = "the task after the cancel", body = TaskSchema),
        (status = 404, description = "no such task", body = ErrorSchema),
        (status = 409, description = "already ended", body = ErrorSchema)))]
async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<TaskId>,
) -> Result<Json<Task>, ApiError> {
    principal.require(Role::Operator)?;
    let reason = format!("cancelled by {}", principal.actor());
    Ok(Json(
        state
            .engine()
            .tasks()
            .cancel(&principal.tenant, id, &reason)
            .await?,
    ))
}

/// Retries a dead-lettered task with a fresh set of attempts.
#[utoipa::path(post, path = "/tasks/{id}/retry", tag = "tasks",
    params(("id" = Uuid, Path, description = "task id")),
    responses((status = 200, description = "the task, queued again", body = TaskSchema),
        (status = 404, description = "no such task", body = ErrorSchema),
        (status = 409, description = "not dead-lettered", body = ErrorSchema)))]
async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<TaskId>,
) -> Result<Json<Task>, ApiError> {
    principal.require(Role::Operator)?;
    Ok(Json(
        state.engine().tasks().retry(&principal.tenant, id).await?,
    ))
}

/// Parameters of `/tasks/{id}/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventParams {
    /// Most events returned (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// The task's event history, oldest first.
#[utoipa::path(get, path = "/tasks/{id}/events", tag = "tasks",
    params(("id" = Uuid, Path, description = "task id"), EventParams),
    responses((status = 200, description = "events, oldest first", body = Vec<EventSchema>),
        (status = 404, description = "no such task", body = ErrorSchema)))]
async fn events(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<TaskId>,
    Params(params): Params<EventParams>,
) -> Result<Json<Vec<Event>>, ApiError> {
    principal.require(Role::Viewer)?;
    let limit = match params.limit {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(_) => return Err(ApiError::invalid("limit: must be 1 to 1000")),
    };
    Ok(Json(
        state
            .engine()
            .tasks()
            .events(&principal.tenant, id, limit)
            .await?,
    ))
}
