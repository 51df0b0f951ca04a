//! A [`Clock`] that follows tokio's clock, so tests with paused time (`start_paused`) move the
//! stores' time and the engine's timers together.

use std::fmt;

use godel_types::Clock;
use time::OffsetDateTime;
use tokio::time::Instant;

/// Wall time as `start + (tokio's now − the instant it was made)`.
///
/// In production this drifts from the system clock no more than tokio's monotonic clock does;
/// under `tokio::time::pause` it advances exactly when tokio's time does.
#[derive(Clone, Copy)]
pub struct TokioClock {
    start: OffsetDateTime,
    origin: Instant,
}

impl TokioClock {
    /// A clock reading `start` now.
    #[must_use]
    pub fn starting_at(start: OffsetDateTime) -> Self {
        Self {
            start,
            origin: Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::starting_at(OffsetDateTime::now_utc())
    }
}

impl fmt::Debug for TokioClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokioClock({})", self.now())
    }
}

impl Clock for TokioClock {
    fn now(&self) -> OffsetDateTime {
        self.start + self.origin.elapsed()
    }
}
