//! The engine's error type: what a front end (HTTP, CLI, an embedder) maps to an answer.

use std::error::Error as StdError;

use godel_federation::FederationError;
use godel_lifecycle::{LifecycleError, RepositoryError};
use godel_queue::{ErrorKind as QueueErrorKind, QueueError};

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The request is malformed or breaks a rule; `field` names the offending input.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The input at fault, e.g. `"payload.prompt"`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No such resource for this tenant.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The resource is in a state that forbids the request (e.g. cancelling a completed task).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The tenant's queue (or the pool) is full: retry later.
    #[error("over capacity: {0}")]
    OverCapacity(String),
    /// The engine is shutting down and takes no new work.
    #[error("shutting down")]
    ShuttingDown,
    /// A store or gateway failed; the request may succeed later.
    #[error("{message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
}

/// The kind of an [`EngineError`], for mapping to status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400 `invalid_request`.
    Invalid,
    /// 404 `not_found`.
    NotFound,
    /// 409 `conflict`.
    Conflict,
    /// 429 `rate_limited`.
    OverCapacity,
    /// 503 `service_unavailable`.
    Unavailable,
}

impl EngineError {
    /// An [`Invalid`](Self::Invalid) error.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A [`NotFound`](Self::NotFound) error.
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// What kind of error this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::OverCapacity(_) => ErrorKind::OverCapacity,
            Self::ShuttingDown | Self::Unavailable { .. } => ErrorKind::Unavailable,
        }
    }

    /// Whether the same request may succeed later.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::OverCapacity | ErrorKind::Unavailable
        )
    }
}

impl From<QueueError> for EngineError {
    fn from(e: QueueError) -> Self {
        match e.kind() {
            QueueErrorKind::NotFound => Self::NotFound {
                entity: "task",
                id: e.to_string(),
            },
            QueueErrorKind::Invalid => Self::Invalid {
                field: "task",
                message: e.to_string(),
            },
            QueueErrorKind::QueueFull => Self::OverCapacity(e.to_string()),
            QueueErrorKind::Unavailable => Self::Unavailable {
                message: "queue store unavailable".into(),
                source: Some(Box::new(e)),
            },
            _ => Self::Conflict(e.to_string()),
        }
    }
}

impl From<RepositoryError> for EngineError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::NotFound { entity, id } => Self::NotFound { entity, id },
            RepositoryError::AlreadyExists { .. } | RepositoryError::Conflict { .. } => {
                Self::Conflict(e.to_string())
            }
            other => Self::Unavailable {
                message: "repository unavailable".into(),
                source: Some(Box::new(other)),
            },
        }
    }
}

impl From<LifecycleError> for EngineError {
    fn from(e: LifecycleError) -> Self {
        Self::Conflict(e.to_string())
    }
}

impl From<FederationError> for EngineError {
    fn from(e: FederationError) -> Self {
        use godel_federation::ErrorKind as K;
        match e.kind() {
            K::NotFound => Self::NotFound {
                entity: "instance",
                id: e.to_string(),
            },
            K::AlreadyExists => Self::Conflict(e.to_string()),
            K::Invalid => Self::Invalid {
                field: "instance",
                message: e.to_string(),
            },
            _ => Self::Unavailable {
                message: "instance store unavailable".into(),
                source: Some(Box::new(e)),
            },
        }
    }
}
