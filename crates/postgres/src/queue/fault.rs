//! What can go wrong inside a queue transaction: a refusal of the port, or a driver error that
//! may be retried (serialization failure, deadlock) or becomes `QueueError::Unavailable`.

pub(crate) use godel_engine::combine::GroupFault;
use godel_queue::QueueError;

use crate::error::{self, Class};

/// A failure inside one store transaction.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The port's own answer (not found, stale lease, invalid input...).
    Queue(QueueError),
    /// The driver failed while doing `what`.
    Db {
        /// What the store was doing.
        what: &'static str,
        /// The driver's error.
        error: sqlx::Error,
    },
}

impl GroupFault for Fault {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Db { error, .. } if error::classify(error) == Class::Retry)
    }

    fn into_queue(self) -> QueueError {
        match self {
            Self::Queue(error) => error,
            Self::Db { what, error } => error::queue(what, error),
        }
    }
}

impl Fault {
    /// A stored value the store cannot read back (a corrupt row).
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        Self::Queue(QueueError::Unavailable {
            message: format!("postgres: corrupt queue row: {}", what.into()),
            source: None,
        })
    }
}

impl From<QueueError> for Fault {
    fn from(error: QueueError) -> Self {
        Self::Queue(error)
    }
}

/// Tags a driver result with what the store was doing.
pub(crate) trait DbContext<T> {
    /// Wraps the driver error as a [`Fault::Db`].
    fn db(self, what: &'static str) -> Result<T, Fault>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn db(self, what: &'static str) -> Result<T, Fault> {
        self.map_err(|error| Fault::Db { what, error })
    }
}

/// A `QueueError::Invalid` (its constructor is private to `godel-queue`).
pub(crate) fn invalid(field: &'static str, reason: &str) -> Fault {
    Fault::Queue(QueueError::Invalid {
        field,
        reason: reason.to_owned(),
    })
}
