//! `/api-keys` (admin): create (the secret is shown once), list, revoke. Keys are listed
//! without their hash.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use godel_engine::Page;
use godel_engine::access::ApiKeyRecord;
use godel_types::{ApiKeyId, Role, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Params, PathId};
use super::list_doc::PageQuery;
use super::paging::{ListParams, page_in_memory};
use super::schema::{ApiKeyPageSchema, ErrorSchema};
use crate::auth::{Principal, create_api_key};
use crate::error::ApiError;
use crate::state::AppState;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
}

/// An API key as the API shows it: everything but its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    /// Its id.
    #[schema(value_type = uuid::Uuid)]
    pub id: ApiKeyId,
    /// Its tenant.
    #[schema(value_type = String)]
    pub tenant: TenantId,
    /// Its label.
    pub name: String,
    /// What it may do.
    #[schema(value_type = String)]
    pub role: Role,
    /// The first characters of the key, e.g. `dk_live_AbCd`.
    pub prefix: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last used (about once a minute precision).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    /// Revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(r: ApiKeyRecord) -> Self {
        Self {
            id: r.id,
            tenant: r.tenant,
            name: r.name,
            role: r.role,
            prefix: r.prefix,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// Body of `POST /api-keys`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label: 1 to 128 characters, not blank.
    #[schema(min_length = 1, max_length = 128, pattern = r"\S")]
    pub name: String,
    /// `viewer`, `developer`, `operator` or `admin`.
    #[schema(value_type = super::schema::RoleSchema)]
    pub role: Role,
}

/// The answer of `POST /api-keys`: the key and its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key.
    pub key: ApiKeyView,
    /// The secret to send as `X-API-Key`; not retrievable later.
    pub secret: String,
}

/// Creates an API key for the caller's tenant.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, description = "created; the secret is shown once", body = CreatedApiKey)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Body(request): Body<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    principal.require(Role::Admin)?;
    let (secret, record) =
        create_api_key(&state, &principal.tenant, &request.name, request.role).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key: record.into(),
            secret,
        }),
    ))
}

/// Lists the tenant's keys (revoked ones included), oldest first.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", params(PageQuery),
    responses((status = 200, description = "a page of keys", body = ApiKeyPageSchema)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<ApiKeyView>>, ApiError> {
    principal.require(Role::Admin)?;
    params.only("/api-keys", &[])?;
    let keys: Vec<ApiKeyView> = state
        .api_keys()
        .list(Some(&principal.tenant))
        .await?
        .into_iter()
        .map(ApiKeyView::from)
        .collect();
    Ok(Json(page_in_memory("api_key", keys, &params, |k| {
        k.id.to_string()
    })?))
}

/// Revokes a key: it no longer authenticates.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys",
    params(("id" = Uuid, Path, description = "key id")),
    responses((status = 200, description = "the revoked key", body = ApiKeyView),
        (status = 404, description = "no such key for this tenant", body = ErrorSchema)))]
async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId<ApiKeyId>,
) -> Result<Json<ApiKeyView>, ApiError> {
    principal.require(Role::Admin)?;
    let record = state
        .api_keys()
        .revoke(&principal.tenant, id, OffsetDateTime::now_utc())
        .await?;
    Ok(Json(record.into()))
}
