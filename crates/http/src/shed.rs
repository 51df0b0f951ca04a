//! Load shedding: at most [`HttpOptions::max_in_flight`](crate::state::HttpOptions) requests are
//! served at once; beyond that a request is answered at once with 503 `service_unavailable` and
//! `Retry-After: 1`. An overloaded server so keeps answering the work it took on in bounded time
//! and memory instead of queueing requests without limit. Health, metrics and the `/events`
//! socket are exempt: probes must still see an overloaded server, and a socket is one request for
//! its whole life.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ErrorCode};

/// Counter: requests refused because too many were in progress.
pub const REQUESTS_SHED: &str = "dash_http_requests_shed_total";

/// The permits of requests in progress, shared by the server's connections.
#[derive(Debug, Clone)]
pub struct InFlight(Arc<Semaphore>);

impl InFlight {
    /// Room for `max` requests at once (at least one).
    #[must_use]
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(
            max.clamp(1, Semaphore::MAX_PERMITS),
        )))
    }
}

/// Whether `path` is served whatever the load.
fn exempt(path: &str) -> bool {
    path == "/metrics"
        || path == "/events"
        || path.ends_with("/health")
        || path.contains("/health/")
}

/// The middleware: serves the request while holding a permit, or refuses it when none is free.
pub async fn layer(State(in_flight): State<InFlight>, request: Request, next: Next) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(_permit) = in_flight.0.try_acquire() else {
        metrics::counter!(REQUESTS_SHED).increment(1);
        return ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the server is overloaded (too many requests in progress); retry shortly",
        )
        .with_retry_after(1)
        .into_response();
    };
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tokio::sync::oneshot;
    use tower::ServiceExt as _;

    use super::*;

    /// A router whose `/slow` waits for `release`, behind a shedder with room for one request.
    fn app(release: oneshot::Receiver<()>) -> Router {
        let release = Arc::new(tokio::sync::Mutex::new(Some(release)));
        Router::new()
            .route(
                "/slow",
                get(move || {
                    let release = Arc::clone(&release);
                    async move {
                        if let Some(wait) = release.lock().await.take() {
                            let _ = wait.await;
                        }
                        "done"
                    }
                }),
            )
            .route("/fast", get(|| async { "fast" }))
            .route("/health", get(|| async { "healthy" }))
            .layer(axum::middleware::from_fn_with_state(
                InFlight::new(1),
                layer,
            ))
    }

    async fn status(app: &Router, path: &str) -> (StatusCode, Option<String>) {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let retry = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (response.status(), retry)
    }

    #[tokio::test]
    async fn a_request_beyond_the_limit_is_refused_at_once_and_health_still_answers() {
        let (release, wait) = oneshot::channel();
        let app = app(wait);
        let slow = tokio::spawn({
            let app = app.clone();
            async move { status(&app, "/slow").await }
        });
        // Let the slow request take the only permit.
        for _ in 0..100 {
            if status(&app, "/fast").await.0 == StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            status(&app, "/fast").await,
            (StatusCode::SERVICE_UNAVAILABLE, Some("1".to_owned()))
        );
        assert_eq!(status(&app, "/health").await.0, StatusCode::OK);
        release.send(()).expect("the slow request waits");
        assert_eq!(slow.await.expect("joined").0, StatusCode::OK);
        assert_eq!(
            status(&app, "/fast").await.0,
            StatusCode::OK,
            "the permit is back"
        );
    }
}
