//! The whole HTTP application as one `axum::Router`: the API under `/api/v1` and the deprecated
//! `/api` alias (and `/pi/instances`), health at the root and under both API mounts, `/metrics`,
//! the `/events` WebSocket, the OpenAPI document, and the middleware around them. From the
//! outside in: request id and tracing, request metrics, authentication and rate limits; the API
//! routes add the body limit and the audit layer, the aliases the deprecation headers.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{audit, auth, events, ops, request_id, routes};

/// The mount of the API.
pub const API_V1: &str = "/api/v1";
/// The deprecated alias of [`API_V1`].
pub const API_ALIAS: &str = "/api";
/// The older mount of the instance registry.
pub const PI: &str = "/pi";

/// The routes under one API mount: the resources plus health.
fn api_routes() -> OpenApiRouter<AppState> {
    routes::api().merge(ops::routes())
}

/// The OpenAPI document of everything the application serves (from the same routers).
#[must_use]
pub fn openapi() -> OpenApiDoc {
    let (_, mut doc) = OpenApiRouter::<AppState>::with_openapi(routes::ApiDoc::openapi())
        .nest(API_V1, api_routes())
        .merge(ops::routes())
        .split_for_parts();
    let (_, pi) = OpenApiRouter::<AppState>::new()
        .nest(PI, routes::pi())
        .split_for_parts();
    for (path, mut item) in pi.paths.paths {
        for op in [item.get.as_mut(), item.post.as_mut(), item.delete.as_mut()]
            .into_iter()
            .flatten()
        {
            op.deprecated = Some(utoipa::openapi::Deprecated::True);
            op.operation_id = op.operation_id.take().map(|id| format!("{id}_pi"));
        }
        doc.paths.paths.insert(path, item);
    }
    routes::finish_document(&mut doc);
    doc
}

/// Adds `Deprecation: true` and `Sunset: <options.sunset>` to alias answers.
async fn deprecated(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("deprecation", HeaderValue::from_static("true"));
    if let Ok(sunset) = HeaderValue::from_str(&state.options().sunset) {
        headers.insert("sunset", sunset);
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// One API mount: the routes with the audit layer and the body limit.
fn mount(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    router
        .route_layer(middleware::from_fn_with_state(state.clone(), audit::layer))
        .layer(DefaultBodyLimit::max(state.options().body_limit))
}

/// The application, ready to serve.
pub fn router(state: AppState) -> Router {
    let (api, _) = api_routes().split_for_parts();
    let (pi, _) = routes::pi().split_for_parts();
    let (root_ops, _) = ops::routes().split_for_parts();
    let document = serde_json::to_value(openapi()).unwrap_or_default();
    let serve_document = move || {
        let document = document.clone();
        async move { axum::Json(document) }
    };
    let api = mount(api, &state);
    let alias = api
        .clone()
        .layer(middleware::from_fn_with_state(state.clone(), deprecated));
    let pi = mount(pi, &state).layer(middleware::from_fn_with_state(state.clone(), deprecated));
    Router::new()
        .route(
            &format!("{API_V1}/openapi.json"),
            get(serve_document.clone()),
        )
        .route(&format!("{API_ALIAS}/openapi.json"), get(serve_document))
        .nest(API_V1, api)
        .nest(API_ALIAS, alias)
        .nest(PI, pi)
        .merge(root_ops)
        .merge(ops::metrics_routes())
        .merge(events::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::middleware::layer,
        ))
        .layer(middleware::from_fn_with_state(
            crate::shed::InFlight::new(state.options().max_in_flight),
            crate::shed::layer,
        ))
        .layer(middleware::from_fn(ops::track))
        .layer(middleware::from_fn(request_id::layer))
        .with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes, then drains open requests.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = state.clone();
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        // Open `/events` sockets close with 1001 so the drain does not wait on them.
        closing.begin_shutdown();
    })
    .await
}

impl IntoResponse for &ApiError {
    fn into_response(self) -> Response {
        self.clone().into_response()
    }
}
