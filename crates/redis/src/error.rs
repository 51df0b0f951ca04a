//! The one place Redis and pool failures become domain errors: `QueueError::Unavailable` for
//! the queue, `EngineError::Unavailable` for the bus and the leader lease.

use std::error::Error as StdError;

use godel_engine::EngineError;
use godel_queue::QueueError;

/// A failure talking to Redis (or decoding what it answered), with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("redis {what}: {source}")]
pub(crate) struct RedisFailure {
    what: &'static str,
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

impl RedisFailure {
    /// A failure while doing `what`.
    pub(crate) fn new(
        what: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            what,
            source: source.into(),
        }
    }
}

impl From<RedisFailure> for QueueError {
    fn from(failure: RedisFailure) -> Self {
        Self::Unavailable {
            message: failure.to_string(),
            source: Some(failure.source),
        }
    }
}

impl From<RedisFailure> for EngineError {
    fn from(failure: RedisFailure) -> Self {
        Self::Unavailable {
            message: failure.to_string(),
            source: Some(failure.source),
        }
    }
}

/// Tags any failure of a Redis call with what was being done.
pub(crate) trait Context<T> {
    /// The result, with its error as a [`RedisFailure`] while doing `what`.
    fn context(self, what: &'static str) -> Result<T, RedisFailure>;
}

impl<T, E: Into<Box<dyn StdError + Send + Sync>>> Context<T> for Result<T, E> {
    fn context(self, what: &'static str) -> Result<T, RedisFailure> {
        self.map_err(|e| RedisFailure::new(what, e))
    }
}
