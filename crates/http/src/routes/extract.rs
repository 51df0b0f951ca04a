//! Extractors whose every rejection is an [`ApiError`] (400 `invalid_request`, 413 for an
//! oversize body), so axum's plain-text rejections never reach a client.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// A JSON body; unknown fields, wrong types and unknown enum values are 400.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

/// A JSON body that may be absent (an empty body, or JSON `null`, is `None`).
#[derive(Debug, Clone)]
pub struct OptionalBody<T>(pub Option<T>);

async fn bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            let response = rejection.into_response();
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "request body too large")
            } else {
                ApiError::invalid("request body could not be read")
            }
        })
}

/// Parses a body, which must be a JSON object: serde would otherwise also read a struct from
/// an array of its fields in order (`[[]]` as `{"ids": []}`), which no client means.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b == b'[') {
        return Err(ApiError::invalid(
            "invalid JSON body: expected a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes(request, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::invalid("a JSON body is required"));
        }
        parse(&bytes).map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        parse::<Option<T>>(&bytes).map(Self)
    }
}

/// The `{id}` of a path, parsed as `T` (a UUID id, or an agent name); 400 when it does not parse.
#[derive(Debug, Clone)]
pub struct PathId<T>(pub T);

impl<S: Send + Sync, T> FromRequestParts<S> for PathId<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(format!("invalid path: {e}")))?;
        raw.parse::<T>()
            .map(Self)
            .map_err(|e| ApiError::invalid(format!("invalid id in path: {e}")))
    }
}

/// Query parameters; unknown parameters and wrong types are 400.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(v)| Self(v))
            .map_err(|e| ApiError::invalid(format!("invalid query: {}", e.body_text())))
    }
}
