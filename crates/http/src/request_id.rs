//! Request ids and tracing, the outermost layer: accepts a sane incoming `X-Request-Id` (at most
//! 128 visible ASCII characters) or makes a UUID v7, sets it on the answer, fills `request_id`
//! in error bodies, turns any error answer that is not JSON (axum's plain-text rejections, 405)
//! into the PRD 10.2 body, accepts a W3C `traceparent` (its trace id is recorded in the span and
//! the header echoed), and runs the request in a span with method, route, status and latency.

use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use tracing::field::Empty;

use crate::error::{ApiError, ErrorBody, ErrorCode, ErrorMarker};

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";
/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";
/// Longest accepted incoming request id.
const MAX_ID_LEN: usize = 128;
/// Largest error body rewritten (error bodies are small; others pass untouched).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The id of the request being served, in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether an incoming id may be reused: 1 to 128 visible ASCII characters.
#[must_use]
pub fn is_sane_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The trace id of a valid version-00-style `traceparent`, else `None`.
#[must_use]
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let [version, trace, parent, flags] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = hex(version, 2)
        && *version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then_some(*trace)
}

fn incoming_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_id(v))
        .map(str::to_owned)
}

/// The middleware (layer it outermost).
pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = incoming_id(request.headers()).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let traceparent = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| trace_id(v).is_some())
        .map(str::to_owned);
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        route = Empty,
        status = Empty,
        latency_ms = Empty,
        request_id = %id,
        trace_id = Empty,
    );
    if let Some(trace) = traceparent.as_deref().and_then(trace_id) {
        span.record("trace_id", trace);
    }
    request.extensions_mut().insert(RequestId(id.clone()));
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let mut response = finish_errors(response, &id).await;
    let status = response.status();
    span.record("status", status.as_u16());
    span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!("request failed");
        } else {
            tracing::debug!("request served");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    if let Some(tp) = traceparent.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(TRACEPARENT, tp);
    }
    response
}

/// The error code of an unmarked error answer with `status`.
fn code_for(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        429 => ErrorCode::RateLimited,
        503 => ErrorCode::ServiceUnavailable,
        504 => ErrorCode::GatewayTimeout,
        s if s >= 500 => ErrorCode::InternalError,
        _ => ErrorCode::InvalidRequest,
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Fills `request_id` in marked error bodies and turns unmarked non-JSON errors into the body.
async fn finish_errors(response: Response, id: &str) -> Response {
    let marked = response.extensions().get::<ErrorMarker>().is_some();
    let status = response.status();
    let plain_error = status.as_u16() >= 400 && !is_json(response.headers());
    if !marked && !plain_error {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut error = if marked {
        match to_bytes(body, MAX_ERROR_BODY)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<ErrorBody>(&b).ok())
        {
            Some(e) => e,
            None => return ApiError::internal("unreadable error body").into_response(),
        }
    } else {
        let code = code_for(status);
        let message = match status {
            StatusCode::NOT_FOUND => "no such route".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_owned(),
            s => s
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase(),
        };
        let response = ApiError::new(code, message).into_response();
        let (_, body) = response.into_parts();
        match to_bytes(body, MAX_ERROR_BODY)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<ErrorBody>(&b).ok())
        {
            Some(e) => e,
            None => return response_of(parts, Body::empty()),
        }
    };
    error.error.request_id = id.to_owned();
    let bytes = serde_json::to_vec(&error).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.extensions.insert(ErrorMarker);
    response_of(parts, Body::from(bytes))
}

fn response_of(parts: axum::http::response::Parts, body: Body) -> Response {
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_short_visible_ascii() {
        assert!(is_sane_id("abc-123_X.y"));
        assert!(!is_sane_id(""));
        assert!(!is_sane_id("has space"));
        assert!(!is_sane_id(&"a".repeat(129)));
        assert!(!is_sane_id("é"));
    }

    #[test]
    fn traceparent_is_validated() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(tp), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            trace_id("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            trace_id("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id("garbage"), None);
    }
}
