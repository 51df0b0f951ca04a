//! [`ApiError`]: every failure a handler returns, answered with the PRD 10.2 body
//! `{"error":{"code","message","retryable","request_id"}}` and the status its code implies.
//! Engine and repository errors are mapped here and nowhere else.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use godel_engine::{EngineError, ErrorKind};
use godel_lifecycle::RepositoryError;
use serde::{Deserialize, Serialize};

/// The error codes of PRD 10.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed or breaking a rule.
    InvalidRequest,
    /// 401: no valid credential.
    Unauthorized,
    /// 403: the credential's role may not do this.
    Forbidden,
    /// 404: no such resource for this tenant.
    NotFound,
    /// 409: the resource's state forbids it.
    Conflict,
    /// 413: the body is larger than the limit (code `invalid_request`).
    PayloadTooLarge,
    /// 429: too many requests, or the tenant's queue is full.
    RateLimited,
    /// 500: a bug; details are in the server log under the request id.
    InternalError,
    /// 503: a store or gateway is unavailable, or the server is shutting down.
    ServiceUnavailable,
    /// 504: a dependency did not answer in time.
    GatewayTimeout,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The code as written in the body (`payload_too_large` is reported as `invalid_request`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::PayloadTooLarge => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate_limited",
            Self::InternalError => "internal_error",
            Self::ServiceUnavailable => "service_unavailable",
            Self::GatewayTimeout => "gateway_timeout",
        }
    }

    /// Whether the same request may succeed later.
    #[must_use]
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::ServiceUnavailable | Self::GatewayTimeout
        )
    }
}

/// A failed request. The request id is filled in by the request-id middleware on the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A message for humans; never a secret or a stack trace.
    pub message: String,
    /// Seconds to wait before retrying (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `code` saying `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 500 `internal_error`; logs `detail` and answers a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            ErrorCode::InternalError,
            "internal error; see the server log",
        )
    }

    /// Sets `Retry-After`.
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// The body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The `error` object of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// One of the PRD 10.2 codes.
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// Whether the same request may succeed later.
    pub retryable: bool,
    /// The request's id (also in `X-Request-Id`).
    pub request_id: String,
}

/// Marks an error response so the request-id middleware fills in `request_id`.
#[derive(Debug, Clone)]
pub struct ErrorMarker;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message,
                retryable: self.code.retryable(),
                request_id: String::new(),
            },
        };
        let mut response = (self.code.status(), Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(ErrorMarker);
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        match e.kind() {
            ErrorKind::Invalid => Self::invalid(message),
            ErrorKind::NotFound => Self::not_found(message),
            ErrorKind::Conflict => Self::new(ErrorCode::Conflict, message),
            ErrorKind::OverCapacity => {
                Self::new(ErrorCode::RateLimited, message).with_retry_after(1)
            }
            ErrorKind::Unavailable => {
                tracing::warn!(error = ?e, "service unavailable");
                Self::new(ErrorCode::ServiceUnavailable, message).with_retry_after(1)
            }
            _ => Self::internal(message),
        }
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::NotFound { .. } => Self::not_found(e.to_string()),
            RepositoryError::AlreadyExists { .. } | RepositoryError::Conflict { .. } => {
                Self::new(ErrorCode::Conflict, e.to_string())
            }
            RepositoryError::Unavailable { .. } => {
                tracing::warn!(error = ?e, "repository unavailable");
                Self::new(ErrorCode::ServiceUnavailable, "store unavailable").with_retry_after(1)
            }
            _ => Self::internal(e),
        }
    }
}
