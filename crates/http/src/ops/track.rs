//! The request metrics middleware: `dash_api_requests_total{method,route,status}` and
//! `dash_api_duration_seconds{route}`, labelled by route template so label values stay bounded.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::names;

/// The route label of a request no route matched (never the raw path).
pub const UNMATCHED: &str = "unmatched";

/// Counts and times every request (`axum::middleware::from_fn(track)`). Add it with
/// `Router::layer` so it sees the [`MatchedPath`] (e.g. `/api/v1/tasks/{id}`); a request no
/// route matched is labelled [`UNMATCHED`], an unusual method `other`. 5xx answers also count
/// in `dash_errors_total{type="http_5xx",component="http"}`.
pub async fn track(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    metrics::counter!(
        names::API_REQUESTS,
        "method" => method,
        "route" => route.clone(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!(names::API_DURATION, "route" => route)
        .record(started.elapsed().as_secs_f64());
    if status.is_server_error() {
        metrics::counter!(
            godel_engine::metrics::ERRORS,
            "type" => "http_5xx",
            "component" => "http"
        )
        .increment(1);
    }
    response
}

/// The method as a label: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let custom = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&custom), "other");
    }
}
