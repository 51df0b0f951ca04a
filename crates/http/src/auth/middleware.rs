//! The authentication layer: public routes pass; every other request must present an API key
//! (`X-API-Key`) or, when JWT is on, a bearer token (`?token=` only on `/events`). The
//! principal goes into the request's extensions; failures answer 401 and are audited. Then the
//! per-credential rate limit, with `X-RateLimit-*` headers on every authenticated answer.
//!
//! Public routes are matched on the percent-decoded path, exactly, so encoded or doubled
//! slashes, dot segments, case tricks or query strings can never make a protected route public.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use godel_engine::access::{AuditOutcome, RateDecision};
use percent_encoding::percent_decode_str;
use time::OffsetDateTime;

use super::{Principal, api_key, jwt};
use crate::audit::{self, Record, RequestFacts};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Paths answered without a credential (after percent-decoding, compared exactly).
pub const PUBLIC_PATHS: &[&str] = &[
    "/health",
    "/health/live",
    "/health/ready",
    "/api/v1/health",
    "/api/v1/health/live",
    "/api/v1/health/ready",
    "/api/health",
    "/api/health/live",
    "/api/health/ready",
    "/api/v1/openapi.json",
    "/api/openapi.json",
];

/// The only path where `?token=` is accepted.
const EVENTS_PATH: &str = "/events";
/// The metrics path, public on loopback or when configured.
const METRICS_PATH: &str = "/metrics";

/// The percent-decoded path, or `None` when it does not decode to UTF-8.
fn decoded_path(request: &Request) -> Option<String> {
    percent_decode_str(request.uri().path())
        .decode_utf8()
        .ok()
        .map(|p| p.into_owned())
}

/// Whether `path` (decoded) is public.
#[must_use]
pub fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path)
}

fn is_loopback(request: &Request) -> bool {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| c.0.ip().is_loopback())
}

/// A presented credential.
enum Presented {
    ApiKey(String),
    Bearer(String),
}

impl Presented {
    fn kind(&self) -> &'static str {
        match self {
            Self::ApiKey(_) => "api_key",
            Self::Bearer(_) => "jwt",
        }
    }
}

fn presented(
    headers: &HeaderMap,
    query: Option<&str>,
    events: bool,
) -> Result<Option<Presented>, String> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let auth = auth
            .to_str()
            .map_err(|_| "unreadable Authorization header")?;
        return match auth.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Ok(Some(Presented::Bearer(token.trim().to_owned())))
            }
            _ => Err("Authorization must be a Bearer token".into()),
        };
    }
    if let Some(key) = headers.get("x-api-key") {
        let key = key.to_str().map_err(|_| "unreadable X-API-Key header")?;
        return Ok(Some(Presented::ApiKey(key.trim().to_owned())));
    }
    if events && let Some(token) = query.and_then(|q| url_param(q, "token")) {
        return Ok(Some(if token.starts_with("dk_") {
            Presented::ApiKey(token)
        } else {
            Presented::Bearer(token)
        }));
    }
    Ok(None)
}

/// The decoded value of query parameter `name`.
fn url_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

async fn principal_of(state: &AppState, credential: &Presented) -> Result<Principal, String> {
    match credential {
        Presented::ApiKey(secret) => api_key::authenticate(state, secret).await,
        Presented::Bearer(token) => match state.jwt() {
            Some(settings) => jwt::authenticate(settings, token),
            None => Err("bearer tokens are not accepted: JWT authentication is off".into()),
        },
    }
}

/// The middleware: authenticate, then rate-limit.
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = decoded_path(&request);
    let path = path.as_deref().unwrap_or("");
    if is_public(path) {
        return next.run(request).await;
    }
    if path == METRICS_PATH && (state.options().metrics_public || is_loopback(&request)) {
        return next.run(request).await;
    }
    let facts = RequestFacts::of(&request);
    let credential = presented(
        request.headers(),
        request.uri().query(),
        path == EVENTS_PATH,
    );
    let (kind, result) = match credential {
        Ok(Some(c)) => (c.kind(), principal_of(&state, &c).await),
        Ok(None) => (
            "anonymous",
            Err("missing credentials: send X-API-Key or a Bearer token".to_owned()),
        ),
        Err(message) => ("anonymous", Err(message)),
    };
    let principal = match result {
        Ok(p) => p,
        Err(message) => {
            audit::spawn(
                &state,
                &facts,
                Record {
                    tenant: None,
                    actor: kind.to_owned(),
                    action: "auth.authenticate".to_owned(),
                    outcome: AuditOutcome::Unauthenticated,
                    target: Some(facts.path.clone()),
                    details: serde_json::json!({ "method": facts.method.as_str(), "reason": message }),
                },
            );
            return ApiError::unauthorized(message).into_response();
        }
    };
    let decision = state
        .limiter()
        .check(
            &principal.rate_key(),
            state.options().rate_burst,
            state.options().rate_per_second,
            OffsetDateTime::now_utc(),
        )
        .await;
    request.extensions_mut().insert(principal);
    // Fail open: a limiter outage (e.g. Redis down) must not take the API down with it; the
    // request goes through without rate-limit headers and the failure is logged.
    let decision = match decision {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(error = %e, "rate limiter unavailable; letting the request through");
            None
        }
    };
    let mut response = match decision {
        Some(d) if !d.allowed => {
            let wait = d.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            ApiError::new(
                ErrorCode::RateLimited,
                "rate limit exceeded for this credential",
            )
            .with_retry_after(wait)
            .into_response()
        }
        _ => next.run(request).await,
    };
    if let Some(d) = decision {
        set_rate_headers(response.headers_mut(), &d);
    }
    response
}

fn set_rate_headers(headers: &mut HeaderMap, d: &RateDecision) {
    let reset = d.reset.as_secs_f64().ceil() as u64;
    headers.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_decoded_paths_are_public() {
        assert!(is_public("/health"));
        assert!(is_public("/api/v1/openapi.json"));
        for p in [
            "/HEALTH",
            "/health/",
            "//health",
            "/health/../api/v1/tasks",
            "/api/v1/tasks",
            "/metrics",
        ] {
            assert!(!is_public(p), "{p}");
        }
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            url_param("a=1&token=ab%2Bc", "token").as_deref(),
            Some("ab+c")
        );
        assert_eq!(url_param("tokens=1", "token"), None);
    }
}
