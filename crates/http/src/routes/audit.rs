//! `/audit` (admin): the tenant's audit log, newest first, paged.

use axum::Json;
use axum::extract::State;
use godel_engine::Page;
use godel_engine::access::AuditEntry;
use godel_types::AuditId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Params;
use super::list_doc::PageQuery;
use super::paging::{ListParams, decode_cursor, encode_cursor};
use super::schema::AuditPageSchema;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// Cursor tag of the audit list.
const CURSOR: &str = "audit";
/// Page size used to count entries (the port offers no count).
const COUNT_PAGE: usize = 1000;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(PageQuery),
    responses((status = 200, description = "a page of audit entries", body = AuditPageSchema)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    principal.require(Role::Admin)?;
    params.only("/audit", &[])?;
    let limit = params.limit()?;
    let before = match params.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            AuditId::parse(&decode_cursor(CURSOR, c)?)
                .map_err(|_| ApiError::invalid("cursor: not a cursor of this list"))?,
        ),
    };
    let log = state.audit();
    let tenant = Some(&principal.tenant);
    let mut items = log.list(tenant, before, limit + 1).await?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more {
        items
            .last()
            .map(|e| encode_cursor(CURSOR, &e.id.to_string()))
    } else {
        None
    };
    let (mut total, mut at) = (0u64, None);
    loop {
        let chunk = log.list(tenant, at, COUNT_PAGE).await?;
        total += chunk.len() as u64;
        match chunk.last() {
            Some(last) if chunk.len() == COUNT_PAGE => at = Some(last.id),
            _ => break,
        }
    }
    Ok(Json(Page {
        items,
        next_cursor,
        total,
    }))
}
