//! `/teams`: task groups with progress counts.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use godel_engine::{Page, TaskListQuery, TeamProgress};
use godel_types::TeamId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Params, PathId};
use super::list_doc::PageQuery;
use super::paging::{ListParams, MAX_LIMIT, page_in_memory};
use super::schema::{ErrorSchema, TeamPageSchema, TeamProgressSchema};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
}

/// Lists the tenant's teams with their progress, paged by team id.
///
/// The engine has no team listing, so the teams are the distinct `team_id`s of the tenant's
/// tasks (read page by page), each with the engine's progress.
#[utoipa::path(get, path = "/teams", tag = "teams", params(PageQuery),
    responses((status = 200, description = "a page of teams", body = TeamPageSchema)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<TeamProgress>>, ApiError> {
    principal.require(Role::Viewer)?;
    params.only("/teams", &[])?;
    let tasks = state.engine().tasks();
    let mut teams = BTreeSet::new();
    let mut query = TaskListQuery {
        limit: Some(MAX_LIMIT),
        ..TaskListQuery::default()
    };
    loop {
        let page = tasks.list(&principal.tenant, &query).await?;
        teams.extend(page.items.iter().filter_map(|t| t.team_id));
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    let ids: Vec<TeamId> = teams.into_iter().collect();
    let page = page_in_memory("team", ids, &params, TeamId::to_string)?;
    let mut items = Vec::with_capacity(page.items.len());
    for team in page.items {
        items.push(tasks.team_progress(&principal.tenant, team).await?);
    }
    Ok(Json(Page {
        items,
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

/// One team's progress.
#[utoipa::path(get, path = "/teams/{id}", tag = "teams",
    params(("id" = Uuid, Path, description = "team id")),
    responses((status = 200, description = "its progress", body = TeamProgressSchema),
        (status = 404, description = "no task of this tenant has this team", body = ErrorSchema)))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<TeamId>,
) -> Result<Json<TeamProgress>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(
        state
            .engine()
            .tasks()
            .team_progress(&principal.tenant, id)
            .await?,
    ))
}
