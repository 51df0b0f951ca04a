//! The error of the state machines: a command their transition table does not allow, a timeout
//! asked for before it is due, or an argument that makes no sense. Repository failures are
//! [`RepositoryError`](crate::RepositoryError)s, next to the ports.

use time::OffsetDateTime;

/// Coarse classes of [`LifecycleError`], for callers that map errors to protocol codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The command does not fit the current state (HTTP 409).
    Conflict,
    /// The command itself is malformed (HTTP 400).
    Invalid,
}

/// Why a state machine refused a command. A refused command changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The transition table has no edge for this command from the current state (every
    /// command from a terminal state lands here).
    #[error("{entity} cannot {command} while {from}")]
    IllegalTransition {
        /// What refused it: `"session"` or `"agent"`.
        entity: &'static str,
        /// The current state, e.g. `completed`.
        from: String,
        /// The command, e.g. `start_run` or `become busy`.
        command: String,
    },
    /// A timeout was asked for before the state's deadline passed.
    #[error("{entity} in {from} is not due to time out before {deadline}")]
    NotDue {
        /// What refused it: `"session"`.
        entity: &'static str,
        /// The current state.
        from: String,
        /// When the current state times out.
        deadline: OffsetDateTime,
    },
    /// An argument is out of range or inconsistent.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending argument or setting, e.g. `"migration target"`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl LifecycleError {
    /// The coarse class of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::IllegalTransition { .. } | Self::NotDue { .. } => ErrorKind::Conflict,
            Self::Invalid { .. } => ErrorKind::Invalid,
        }
    }

    /// An [`IllegalTransition`](Self::IllegalTransition) error.
    pub(crate) fn illegal(
        entity: &'static str,
        from: impl ToString,
        command: impl ToString,
    ) -> Self {
        Self::IllegalTransition {
            entity,
            from: from.to_string(),
            command: command.to_string(),
        }
    }

    /// An [`Invalid`](Self::Invalid) error.
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_name_the_state_and_command() {
        let err = LifecycleError::illegal("session", "completed", "start_run");
        assert_eq!(err.to_string(), "session cannot start_run while completed");
        assert_eq!(err.kind(), ErrorKind::Conflict);
        let err = LifecycleError::invalid("session timeouts.ready", "must be positive");
        assert_eq!(
            err.to_string(),
            "invalid session timeouts.ready: must be positive"
        );
        assert_eq!(err.kind(), ErrorKind::Invalid);
    }
}
