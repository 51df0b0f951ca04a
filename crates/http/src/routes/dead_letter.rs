//! `/dead-letter`: list (paged, or exported as NDJSON with `?format=ndjson`) and replay by
//! filter or ids.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use godel_engine::{ErrorKind, Page, Task, TaskListQuery};
use godel_queue::{DeadLetterCursor, DeadLetterFilter};
use godel_types::{Priority, TaskId, TaskStatus};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Params};
use super::list_doc::DeadLettersQuery;
use super::paging::{ListParams, decode_cursor, encode_cursor, parse_value};
use super::schema::{ErrorSchema, PrioritySchema, ReplayRequestSchema, TaskPageSchema};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// Cursor tag of dead-letter lists.
const CURSOR: &str = "dlq";
/// Most dead letters one export returns.
const MAX_EXPORT: usize = 100_000;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(replay))
}

fn encode(c: &DeadLetterCursor) -> String {
    encode_cursor(CURSOR, &format!("{}:{}", c.at.unix_timestamp_nanos(), c.id))
}

fn decode(cursor: &str) -> Result<DeadLetterCursor, ApiError> {
    let raw = decode_cursor(CURSOR, cursor)?;
    let bad = || ApiError::invalid("cursor: not a cursor of this list");
    let (nanos, id) = raw.split_once(':').ok_or_else(bad)?;
    let at = nanos
        .parse::<i128>()
        .ok()
        .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok())
        .ok_or_else(bad)?;
    let id = TaskId::parse(id).map_err(|_| bad())?;
    Ok(DeadLetterCursor { at, id })
}

/// Dead letters, paged; `?format=ndjson` exports every one as JSON lines.
#[utoipa::path(get, path = "/dead-letter", tag = "dead-letter", params(DeadLettersQuery),
    responses((status = 200, description = "a page of dead-lettered tasks, or NDJSON lines of tasks with format=ndjson",
        content((TaskPageSchema = "application/json"), (String = "application/x-ndjson")))))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let filters = params.only("/dead-letter", &["priority", "format"])?;
    let priority = filters
        .priority
        .as_deref()
        .map(|p| parse_value::<Priority>("priority", p))
        .transpose()?;
    let filter = DeadLetterFilter {
        priority,
        ..DeadLetterFilter::default()
    };
    let tasks = state.engine().tasks();
    match params.format.as_deref() {
        None | Some("json") => {}
        Some("ndjson") => return export(&state, &principal, filter).await,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "format: {other:?}; use json or ndjson"
            )));
        }
    }
    let limit = params.limit()?;
    let after = params.cursor.as_deref().map(decode).transpose()?;
    let mut items = tasks
        .dead_letters(&principal.tenant, filter, after, limit + 1)
        .await?;
    let more = items.len() > limit || (items.len() == limit && limit == super::paging::MAX_LIMIT);
    items.truncate(limit);
    let next_cursor = if more {
        items.last().and_then(cursor_after).map(|c| encode(&c))
    } else {
        None
    };
    let query = TaskListQuery {
        statuses: vec![TaskStatus::DeadLetter],
        priority,
        limit: Some(1),
        ..TaskListQuery::default()
    };
    let total = tasks.list(&principal.tenant, &query).await?.total;
    Ok(Json(Page {
        items,
        next_cursor,
        total,
    })
    .into_response())
}

fn cursor_after(task: &Task) -> Option<DeadLetterCursor> {
    task.dead_lettered_at
        .map(|at| DeadLetterCursor { at, id: task.id })
}

async fn export(
    state: &AppState,
    principal: &Principal,
    filter: DeadLetterFilter,
) -> Result<Response, ApiError> {
    let tasks = state.engine().tasks();
    let mut out = Vec::new();
    let mut after = None;
    let mut exported = 0;
    loop {
        let page = tasks
            .dead_letters(
                &principal.tenant,
                filter.clone(),
                after,
                super::paging::MAX_LIMIT,
            )
            .await?;
        for task in &page {
            serde_json::to_writer(&mut out, task).map_err(ApiError::internal)?;
            out.push(b'\n');
        }
        exported += page.len();
        after = page.last().and_then(cursor_after);
        if page.len() < super::paging::MAX_LIMIT || after.is_none() || exported >= MAX_EXPORT {
            break;
        }
    }
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// Which dead letters to replay: by `ids`, or by the other fields.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// These tasks (not combined with the other fields).
    #[serde(default)]
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    pub ids: Option<Vec<TaskId>>,
    /// Only this priority.
    #[serde(default)]
    #[schema(value_type = Option<PrioritySchema>)]
    pub priority: Option<Priority>,
    /// Dead-lettered before this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub before: Option<OffsetDateTime>,
    /// Dead-lettered at or after this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub after: Option<OffsetDateTime>,
    /// Only those whose last error contains this text.
    #[serde(default)]
    pub error_contains: Option<String>,
}

/// The answer of a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Replayed {
    /// How many tasks were queued again.
    pub count: u64,
    /// Their ids.
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub ids: Vec<TaskId>,
}

/// Replays dead letters; returns how many were queued again.
#[utoipa::path(post, path = "/dead-letter/replay", tag = "dead-letter", request_body = ReplayRequestSchema,
    responses((status = 200, description = "replayed", body = Replayed),
        (status = 404, description = "an id names no task of this tenant", body = ErrorSchema)))]
async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Body(request): Body<ReplayRequest>,
) -> Result<Json<Replayed>, ApiError> {
    principal.require(Role::Operator)?;
    let tasks = state.engine().tasks();
    let ids = match request.ids {
        Some(ids) => {
            if request.priority.is_some()
                || request.before.is_some()
                || request.after.is_some()
                || request.error_contains.is_some()
            {
                return Err(ApiError::invalid(
                    "ids: cannot be combined with other filters",
                ));
            }
            let mut replayed = Vec::with_capacity(ids.len());
            for id in ids {
                match tasks.retry(&principal.tenant, id).await {
                    Ok(task) => replayed.push(task.id),
                    // Not dead-lettered (any more): nothing to replay for this id.
                    Err(e) if e.kind() == ErrorKind::Conflict => {}
                    Err(e) => return Err(e.into()),
                }
            }
            replayed
        }
        None => {
            let filter = DeadLetterFilter {
                priority: request.priority,
                since: request.after,
                until: request.before,
                error_contains: request.error_contains,
                ..DeadLetterFilter::default()
            };
            tasks.replay_dead_letters(&principal.tenant, filter).await?
        }
    };
    Ok(Json(Replayed {
        count: ids.len() as u64,
        ids,
    }))
}
