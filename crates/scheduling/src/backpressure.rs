//! Backpressure: refuse new sessions when the pool is nearly full, and new tasks when a tenant's
//! queue is at its bound.

use serde::{Deserialize, Serialize};

use crate::error::SchedulingError;

/// When to refuse new sessions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackpressureConfig {
    /// Highest pool utilisation (`load / capacity`, after adding the new session) at which a
    /// session is still admitted; in `(0, 1]`, default 0.90.
    pub max_utilisation: f64,
}

impl Default for BackpressureConfig {
    fn default() -> Self {
        Self {
            max_utilisation: 0.90,
        }
    }
}

impl BackpressureConfig {
    /// Checks the range.
    ///
    /// # Errors
    /// [`SchedulingError::Invalid`] when `max_utilisation` is not a number in `(0, 1]`.
    pub fn validate(&self) -> Result<(), SchedulingError> {
        if self.max_utilisation > 0.0 && self.max_utilisation <= 1.0 {
            Ok(())
        } else {
            Err(SchedulingError::Invalid {
                field: "max_utilisation",
                reason: "must be a number above 0 and at most 1",
            })
        }
    }

    /// [`admit_session`] with this configuration.
    #[must_use]
    pub fn admit_session(&self, pool_load: u32, pool_capacity: u32) -> Admission {
        admit_session(pool_load, pool_capacity, self)
    }
}

/// Whether a new session may open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// It may.
    Admit,
    /// The pool is too busy.
    Refuse {
        /// The utilisation the pool would have had with the session (1.0 for an empty pool).
        utilisation: f64,
    },
}

impl Admission {
    /// Whether the session is admitted.
    #[must_use]
    pub fn is_admitted(self) -> bool {
        self == Self::Admit
    }
}

/// Whether a new session may open on a pool running `pool_load` tasks in `pool_capacity` slots:
/// refused when the utilisation after adding it, `(pool_load + 1) / pool_capacity`, would exceed
/// `cfg.max_utilisation`. A pool without capacity refuses everything, and so does a threshold
/// that is not a number (fail closed).
#[must_use]
pub fn admit_session(pool_load: u32, pool_capacity: u32, cfg: &BackpressureConfig) -> Admission {
    if pool_capacity == 0 {
        return Admission::Refuse { utilisation: 1.0 };
    }
    let utilisation = (f64::from(pool_load) + 1.0) / f64::from(pool_capacity);
    if utilisation <= cfg.max_utilisation {
        Admission::Admit
    } else {
        Admission::Refuse { utilisation }
    }
}

/// Whether a task may be submitted to a tenant's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAdmission {
    /// It may.
    Admit,
    /// The queue is at its bound (the API answers 429).
    QueueFull {
        /// Tasks queued now.
        queued: u64,
        /// The bound.
        max_queued: u64,
    },
}

impl TaskAdmission {
    /// Whether the task is admitted.
    #[must_use]
    pub fn is_admitted(self) -> bool {
        self == Self::Admit
    }
}

/// Whether one more task may join a queue holding `queued` tasks: refused when that would exceed
/// `max_queued`; always admitted without a bound.
#[must_use]
pub fn admit_task(queued: u64, max_queued: Option<u64>) -> TaskAdmission {
    match max_queued {
        Some(max_queued) if queued >= max_queued => TaskAdmission::QueueFull { queued, max_queued },
        _ => TaskAdmission::Admit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_admitted_up_to_the_threshold_including_it() {
        let cfg = BackpressureConfig::default();
        // 9 of 10 after adding one is exactly 90%: admitted.
        assert_eq!(admit_session(8, 10, &cfg), Admission::Admit);
        // 10 of 10 is above 90%: refused, with the utilisation it would have caused.
        assert_eq!(
            admit_session(9, 10, &cfg),
            Admission::Refuse { utilisation: 1.0 }
        );
        assert_eq!(cfg.admit_session(0, 100), Admission::Admit);
    }

    #[test]
    fn a_pool_without_capacity_refuses_every_session() {
        let cfg = BackpressureConfig::default();
        assert!(!admit_session(0, 0, &cfg).is_admitted());
    }

    #[test]
    fn the_threshold_is_configurable_and_validated() {
        let strict = BackpressureConfig {
            max_utilisation: 0.5,
        };
        assert!(strict.validate().is_ok());
        assert!(admit_session(4, 10, &strict).is_admitted());
        assert!(!admit_session(5, 10, &strict).is_admitted());
        for bad in [0.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            let cfg = BackpressureConfig {
                max_utilisation: bad,
            };
            assert!(cfg.validate().is_err(), "{bad}");
        }
        let nan = BackpressureConfig {
            max_utilisation: f64::NAN,
        };
        assert!(!admit_session(0, 100, &nan).is_admitted(), "fails closed");
    }

    #[test]
    fn the_default_threshold_is_ninety_percent() {
        let cfg = BackpressureConfig::default();
        assert!((cfg.max_utilisation - 0.90).abs() < f64::EPSILON);
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn tasks_are_refused_once_the_queue_is_at_its_bound() {
        assert!(admit_task(4, Some(5)).is_admitted());
        assert_eq!(
            admit_task(5, Some(5)),
            TaskAdmission::QueueFull {
                queued: 5,
                max_queued: 5
            }
        );
        assert!(!admit_task(0, Some(0)).is_admitted());
        assert!(admit_task(u64::MAX, None).is_admitted());
    }
}
