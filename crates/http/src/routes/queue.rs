//! `/queue/depth`: the tenant's due depth by priority, plus scheduled, running and dead-letter
//! counts; admins also see every tenant's due depth.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use godel_engine::TaskListQuery;
use godel_types::{Priority, TaskStatus, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(depth))
}

/// The answer of `GET /queue/depth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueDepth {
    /// The tenant's due tasks by priority (`critical`, `high`, `medium`, `low`).
    pub by_priority: BTreeMap<String, u64>,
    /// Due tasks of every tenant by priority (admins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_tenant: Option<BTreeMap<String, BTreeMap<String, u64>>>,
    /// The tenant's tasks scheduled for later.
    pub scheduled: u64,
    /// The tenant's tasks assigned or running.
    pub running: u64,
    /// The tenant's dead-lettered tasks.
    pub dead_letter: u64,
}

fn by_priority(counts: &[u64; 4]) -> BTreeMap<String, u64> {
    Priority::ALL
        .iter()
        .map(|p| (p.as_str().to_owned(), counts[p.rank()]))
        .collect()
}

async fn count(
    state: &AppState,
    tenant: &TenantId,
    statuses: Vec<TaskStatus>,
) -> Result<u64, ApiError> {
    let query = TaskListQuery {
        statuses,
        limit: Some(1),
        ..TaskListQuery::default()
    };
    Ok(state.engine().tasks().list(tenant, &query).await?.total)
}

/// Queue depth.
#[utoipa::path(get, path = "/queue/depth", tag = "queue",
    responses((status = 200, description = "depth and counts", body = QueueDepth)))]
async fn depth(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<QueueDepth>, ApiError> {
    principal.require(Role::Viewer)?;
    let depth = state.engine().tasks().depth().await?;
    let tenant = &principal.tenant;
    let own = depth.by_tenant.get(tenant).copied().unwrap_or_default();
    let by_tenant = (principal.role >= Role::Admin).then(|| {
        depth
            .by_tenant
            .iter()
            .map(|(t, c)| (t.to_string(), by_priority(c)))
            .collect()
    });
    Ok(Json(QueueDepth {
        by_priority: by_priority(&own),
        by_tenant,
        scheduled: count(&state, tenant, vec![TaskStatus::Scheduled]).await?,
        running: count(
            &state,
            tenant,
            vec![TaskStatus::Assigned, TaskStatus::Running],
        )
        .await?,
        dead_letter: count(&state, tenant, vec![TaskStatus::DeadLetter]).await?,
    }))
}
