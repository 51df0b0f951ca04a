//! The REST resources of `API.md`, one module each, and the OpenAPI document built from them.
//! Handlers check the caller's role first, then only translate to the engine's services and
//! back; answers are the serde form of the engine's types.

pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod dead_letter;
pub mod extract;
pub mod instances;
mod list_doc;
pub mod paging;
pub mod queue;
pub(crate) mod schema;
pub mod sessions;
pub mod tasks;
pub mod teams;

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{OpenApi as OpenApiDoc, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::middleware::is_public;
use crate::state::AppState;

/// Every resource of the API, with paths relative to the mount point (`/api/v1`, `/api`).
#[must_use]
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tasks::routes())
        .merge(queue::routes())
        .merge(dead_letter::routes())
        .merge(agents::routes())
        .merge(sessions::routes())
        .merge(instances::routes())
        .merge(teams::routes())
        .merge(api_keys::routes())
        .merge(audit::routes())
}

/// The routes also answered under `/pi` (the federation registry's older mount).
#[must_use]
pub fn pi() -> OpenApiRouter<AppState> {
    instances::routes()
}

/// The document's fixed parts: info, tags, security schemes, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Godel API",
        description = "Control plane for fleets of AI coding agents. Every `/api/v1/...` route is also answered under the deprecated `/api/...` alias (with `Deprecation` and `Sunset` headers). Errors use the PRD 10.2 body.",
    ),
    components(schemas(schema::ErrorSchema, schema::ErrorDetailSchema)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "tasks"), (name = "queue"), (name = "dead-letter"), (name = "agents"),
        (name = "sessions"), (name = "instances"), (name = "teams"), (name = "api-keys"),
        (name = "audit"), (name = "health"),
    )
)]
pub struct ApiDoc;

/// Adds the `api_key` (`X-API-Key`) and `bearer` (JWT) security schemes.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "a service-account key: dk_live_... or dk_test_...",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256 JWT with sub, iss, aud, exp, iat, jti, tenant_id, role",
                    ))
                    .build(),
            ),
        );
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "Error",
                    ))))
                    .build(),
            )
            .build(),
    )
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Makes every `operationId` unique, as OpenAPI requires: handlers are named after what they
/// do (`list`, `create`...), so the id becomes `<tag>_<handler>` (`tasks_list`), and the
/// health routes also answered at the root (outside `/api/v1`) get `_root`.
fn unique_operation_ids(doc: &mut OpenApiDoc) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let root = !path.starts_with(crate::router::API_V1) && !path.starts_with(crate::router::PI);
        for op in operations(item) {
            let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
            let Some(id) = op.operation_id.take() else {
                continue;
            };
            let mut id = match tag {
                Some(tag) if !id.starts_with(&tag) => format!("{}_{id}", tag.replace('-', "_")),
                _ => id,
            };
            if root {
                id.push_str("_root");
            }
            op.operation_id = Some(id);
        }
    }
}

/// Adds what every operation shares: unique operation ids, the security requirement (unless
/// public) and the error answers any route may give (400, 401, 403, 429, 500, 503).
pub fn finish_document(doc: &mut OpenApiDoc) {
    unique_operation_ids(doc);
    let common: &[(&str, &str, bool)] = &[
        (
            "400",
            "invalid_request: malformed JSON, wrong types, unknown fields or enum values, bad ids, cursors or parameters",
            true,
        ),
        ("401", "unauthorized: missing or invalid credential", false),
        (
            "403",
            "forbidden: the credential's role may not do this",
            false,
        ),
        (
            "429",
            "rate_limited: too many requests for this credential (see Retry-After)",
            false,
        ),
        ("500", "internal_error", true),
        (
            "503",
            "service_unavailable: a store or gateway is unavailable",
            true,
        ),
    ];
    let secured = vec![
        SecurityRequirement::new("api_key", Vec::<String>::new()),
        SecurityRequirement::new("bearer", Vec::<String>::new()),
    ];
    for (path, item) in doc.paths.paths.iter_mut() {
        let public = is_public(path);
        for op in operations(item) {
            for (status, description, always) in common {
                if (public && !always) || op.responses.responses.contains_key(*status) {
                    continue;
                }
                op.responses
                    .responses
                    .insert((*status).to_owned(), error_response(description));
            }
            op.security = Some(if public { Vec::new() } else { secured.clone() });
        }
    }
}
