//! The one place a driver error becomes a port error: every query's `sqlx::Error` goes through
//! [`classify`] and then into the error type of the port that ran it.

use godel_federation::FederationError;
use godel_lifecycle::RepositoryError;
use godel_queue::QueueError;

/// What a driver error means to a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A unique or primary-key constraint refused the row.
    UniqueViolation,
    /// A foreign-key constraint refused the row.
    ForeignKeyViolation,
    /// Serialization failure or deadlock: the transaction may be retried as is.
    Retry,
    /// Anything else: the store is unavailable or failed.
    Unavailable,
}

/// Classifies a driver error by its SQLSTATE.
#[must_use]
pub fn classify(error: &sqlx::Error) -> Class {
    let Some(db) = error.as_database_error() else {
        return Class::Unavailable;
    };
    match db.code().as_deref() {
        Some("23505") => Class::UniqueViolation,
        Some("23503") => Class::ForeignKeyViolation,
        Some("40001" | "40P01") => Class::Retry,
        _ => Class::Unavailable,
    }
}

/// A queue error for a driver failure while doing `what`.
pub fn queue(what: &str, error: sqlx::Error) -> QueueError {
    QueueError::unavailable(format!("postgres: {what}"), error)
}

/// A repository error for a driver failure while doing `what`.
pub fn repository(what: &str, error: sqlx::Error) -> RepositoryError {
    RepositoryError::unavailable(format!("postgres: {what}"), error)
}

/// A federation error for a driver failure while doing `what`.
pub fn federation(what: &str, error: sqlx::Error) -> FederationError {
    FederationError::unavailable(format!("postgres: {what}"), error)
}
