//! The crate's one error type, shared by its validation and its ports.

use std::error::Error as StdError;

use godel_types::InstanceId;

/// Coarse classes of [`FederationError`], for callers that map errors to protocol codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The instance does not exist.
    NotFound,
    /// The instance (its id or its endpoint) is already registered.
    AlreadyExists,
    /// A field of a spec or config is out of range or malformed.
    Invalid,
    /// A store or provisioner failed; the operation may be retried.
    Unavailable,
}

/// Everything validation, an [`InstanceStore`](crate::InstanceStore) or a
/// [`Provisioner`](crate::Provisioner) can refuse or fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// No instance with this id.
    #[error("instance {0} not found")]
    NotFound(InstanceId),
    /// An instance with this id is already registered.
    #[error("instance {0} already exists")]
    AlreadyExists(InstanceId),
    /// Another instance is already registered at this endpoint.
    #[error("endpoint {endpoint} is already used by instance {by}")]
    EndpointTaken {
        /// The endpoint, as given.
        endpoint: String,
        /// The instance registered there.
        by: InstanceId,
    },
    /// A field is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field, e.g. `"endpoint"` or `"autoscale.max_instances"`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A store or provisioner failed (I/O, driver, process). Memory stores never return this.
    #[error("federation backend unavailable: {message}")]
    Unavailable {
        /// What the adapter was doing.
        message: String,
        /// The underlying failure.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl FederationError {
    /// The coarse class of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::AlreadyExists(_) | Self::EndpointTaken { .. } => ErrorKind::AlreadyExists,
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::Unavailable { .. } => ErrorKind::Unavailable,
        }
    }

    /// Whether the same call may succeed later without changing the request.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Unavailable
    }

    /// An [`Invalid`](Self::Invalid) error for `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// An [`Unavailable`](Self::Unavailable) error wrapping an adapter's own failure; `source`
    /// may be a driver error or just a message.
    pub fn unavailable(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_kind() {
        let id = InstanceId::from_u128(1);
        assert_eq!(FederationError::NotFound(id).kind(), ErrorKind::NotFound);
        assert_eq!(
            FederationError::AlreadyExists(id).kind(),
            ErrorKind::AlreadyExists
        );
        let taken = FederationError::EndpointTaken {
            endpoint: "ws://a".into(),
            by: id,
        };
        assert_eq!(taken.kind(), ErrorKind::AlreadyExists);
        assert_eq!(
            FederationError::invalid("x", "y").kind(),
            ErrorKind::Invalid
        );
        assert_eq!(
            FederationError::unavailable("x", "y").kind(),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn only_unavailable_is_retryable() {
        assert!(FederationError::unavailable("starting gateway", "exit code 1").is_retryable());
        assert!(!FederationError::NotFound(InstanceId::from_u128(1)).is_retryable());
    }

    #[test]
    fn unavailable_keeps_its_source_and_messages_are_lowercase() {
        let err = FederationError::unavailable("connecting to database", "connection refused");
        assert_eq!(
            err.to_string(),
            "federation backend unavailable: connecting to database"
        );
        let source = StdError::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection refused"));
        let invalid = FederationError::invalid("max_sessions", "must be at least 1");
        assert_eq!(
            invalid.to_string(),
            "invalid max_sessions: must be at least 1"
        );
    }
}
