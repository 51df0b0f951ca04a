//! The per-instance circuit breaker every gateway call goes through: closed, open, half-open.
//!
//! Pure and clock-free: the caller passes `now` to every method, asks [`CircuitBreaker::allow`]
//! before a call and reports the outcome with [`CircuitBreaker::on_success`] or
//! [`CircuitBreaker::on_failure`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::FederationError;

/// When a breaker opens and how it probes its way closed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BreakerConfig {
    /// Failures in a row that open a closed breaker (default 5).
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before letting trial calls through (default 30 s).
    #[serde(with = "crate::serde_duration")]
    pub reset_timeout: Duration,
    /// Trial calls a half-open breaker lets through at once (default 1).
    pub half_open_max_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            reset_timeout: Duration::from_secs(30),
            half_open_max_calls: 1,
        }
    }
}

impl BreakerConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`FederationError::Invalid`] naming the first field that is zero.
    pub fn validate(&self) -> Result<(), FederationError> {
        if self.failure_threshold == 0 {
            return Err(FederationError::invalid(
                "failure_threshold",
                "must be at least 1",
            ));
        }
        if self.reset_timeout.is_zero() {
            return Err(FederationError::invalid(
                "reset_timeout",
                "must be positive",
            ));
        }
        if self.half_open_max_calls == 0 {
            return Err(FederationError::invalid(
                "half_open_max_calls",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; failures in a row are counted.
    Closed,
    /// Calls are refused until `until`.
    Open {
        /// When trial calls may start.
        until: OffsetDateTime,
    },
    /// A few trial calls go through: one success closes the breaker, one failure opens it again.
    HalfOpen,
}

/// A circuit breaker for one instance.
///
/// A trial call admitted while half-open whose outcome is never reported (the caller was
/// cancelled) does not wedge the breaker: after `reset_timeout` without an outcome, trial calls
/// are admitted again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: Inner,
    failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed,
    Open {
        until: OffsetDateTime,
    },
    HalfOpen {
        /// Trial calls admitted and not yet reported.
        in_flight: u32,
        /// When the last trial call was admitted.
        last_admitted: Option<OffsetDateTime>,
    },
}

impl CircuitBreaker {
    /// A closed breaker. Counts out of range are raised to 1 (see [`BreakerConfig::validate`]).
    #[must_use]
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config: BreakerConfig {
                failure_threshold: config.failure_threshold.max(1),
                half_open_max_calls: config.half_open_max_calls.max(1),
                ..config
            },
            state: Inner::Closed,
            failures: 0,
        }
    }

    /// The config in use.
    #[must_use]
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Where the breaker stands at `now`: an open breaker whose time is up reads as half-open.
    #[must_use]
    pub fn state(&self, now: OffsetDateTime) -> BreakerState {
        match self.state {
            Inner::Closed => BreakerState::Closed,
            Inner::Open { until } if now < until => BreakerState::Open { until },
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Failures in a row counted while closed.
    #[must_use]
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// Whether a call may go out at `now`; when it returns `true` the caller must report the
    /// call's outcome. Open: refused until its time is up, then half-open. Half-open: admits at
    /// most `half_open_max_calls` trial calls at once.
    pub fn allow(&mut self, now: OffsetDateTime) -> bool {
        match self.state {
            Inner::Closed => true,
            Inner::Open { until } if now < until => false,
            Inner::Open { .. } => {
                self.state = Inner::HalfOpen {
                    in_flight: 1,
                    last_admitted: Some(now),
                };
                true
            }
            Inner::HalfOpen {
                in_flight,
                last_admitted,
            } => {
                let stale = last_admitted.is_some_and(|at| now - at >= self.config.reset_timeout);
                let in_flight = if stale { 0 } else { in_flight };
                if in_flight >= self.config.half_open_max_calls {
                    return false;
                }
                self.state = Inner::HalfOpen {
                    in_flight: in_flight + 1,
                    last_admitted: Some(now),
                };
                true
            }
        }
    }

    /// A call succeeded: resets the failure count; a half-open breaker closes. (`now` is taken
    /// for symmetry with the other methods; a success needs no time.)
    pub fn on_success(&mut self, _now: OffsetDateTime) {
        match self.state {
            Inner::Closed => self.failures = 0,
            Inner::HalfOpen { .. } => self.close(),
            // A success reported while open belongs to a call sent before the breaker opened:
            // it proves little, and only a trial call admitted by `allow` closes the breaker.
            Inner::Open { .. } => {}
        }
    }

    /// A call failed: counts towards opening a closed breaker; a half-open breaker opens again
    /// for another `reset_timeout`.
    pub fn on_failure(&mut self, now: OffsetDateTime) {
        match self.state {
            Inner::Closed => {
                self.failures = self.failures.saturating_add(1);
                if self.failures >= self.config.failure_threshold {
                    self.open(now);
                }
            }
            Inner::HalfOpen { .. } => self.open(now),
            // Late failures of calls sent before the breaker opened do not extend it.
            Inner::Open { .. } => {}
        }
    }

    fn open(&mut self, now: OffsetDateTime) {
        self.state = Inner::Open {
            until: now + self.config.reset_timeout,
        };
    }

    fn close(&mut self) {
        self.state = Inner::Closed;
        self.failures = 0;
    }
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self::new(BreakerConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

    fn at(ms: u64) -> OffsetDateTime {
        T0 + Duration::from_millis(ms)
    }

    fn opened_breaker(config: BreakerConfig) -> CircuitBreaker {
        let threshold = config.failure_threshold;
        let mut b = CircuitBreaker::new(config);
        for _ in 0..threshold {
            assert!(b.allow(at(0)));
            b.on_failure(at(0));
        }
        b
    }

    #[test]
    fn defaults_are_the_documented_ones_and_valid() {
        let c = BreakerConfig::default();
        assert_eq!(c.failure_threshold, 5);
        assert_eq!(c.reset_timeout, Duration::from_secs(30));
        assert_eq!(c.half_open_max_calls, 1);
        assert!(c.validate().is_ok());
        let zero = BreakerConfig {
            half_open_max_calls: 0,
            ..c
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("half_open_max_calls")
        );
    }

    #[test]
    fn config_reads_reset_timeout_in_milliseconds() {
        let c: BreakerConfig = serde_json::from_str(r#"{"reset_timeout": 250}"#).unwrap();
        assert_eq!(c.reset_timeout, Duration::from_millis(250));
        assert_eq!(c.failure_threshold, 5);
    }

    #[test]
    fn a_closed_breaker_opens_after_threshold_failures_in_a_row() {
        let mut b = CircuitBreaker::default();
        for _ in 0..4 {
            b.on_failure(at(0));
        }
        assert_eq!(b.state(at(0)), BreakerState::Closed);
        b.on_failure(at(1_000));
        assert_eq!(b.state(at(1_000)), BreakerState::Open { until: at(31_000) });
        assert!(!b.allow(at(30_999)));
    }

    #[test]
    fn a_success_resets_the_count_of_failures() {
        let mut b = CircuitBreaker::default();
        for _ in 0..4 {
            b.on_failure(at(0));
        }
        b.on_success(at(0));
        assert_eq!(b.consecutive_failures(), 0);
        for _ in 0..4 {
            b.on_failure(at(0));
        }
        assert_eq!(b.state(at(0)), BreakerState::Closed);
    }

    #[test]
    fn an_open_breaker_turns_half_open_and_admits_one_trial() {
        let mut b = opened_breaker(BreakerConfig::default());
        assert_eq!(b.state(at(30_000)), BreakerState::HalfOpen);
        assert!(b.allow(at(30_000)));
        assert!(!b.allow(at(30_001)), "only one trial call at a time");
        b.on_success(at(30_500));
        assert_eq!(b.state(at(30_500)), BreakerState::Closed);
        assert!(b.allow(at(30_501)));
    }

    #[test]
    fn a_failed_trial_opens_the_breaker_again() {
        let mut b = opened_breaker(BreakerConfig::default());
        assert!(b.allow(at(30_000)));
        b.on_failure(at(30_100));
        assert_eq!(
            b.state(at(30_100)),
            BreakerState::Open { until: at(60_100) }
        );
        assert!(!b.allow(at(60_099)));
        assert!(b.allow(at(60_100)));
    }

    #[test]
    fn half_open_admits_up_to_its_configured_trials() {
        let config = BreakerConfig {
            half_open_max_calls: 3,
            ..BreakerConfig::default()
        };
        let mut b = opened_breaker(config);
        let admitted = (0..5).filter(|_| b.allow(at(30_000))).count();
        assert_eq!(admitted, 3);
    }

    #[test]
    fn an_unreported_trial_does_not_wedge_the_breaker() {
        let mut b = opened_breaker(BreakerConfig::default());
        assert!(b.allow(at(30_000)));
        assert!(!b.allow(at(59_999)));
        assert!(b.allow(at(60_000)));
    }

    #[test]
    fn late_outcomes_do_not_move_an_open_breaker() {
        let mut b = opened_breaker(BreakerConfig::default());
        b.on_failure(at(10_000));
        b.on_success(at(10_000));
        assert_eq!(
            b.state(at(10_000)),
            BreakerState::Open { until: at(30_000) }
        );
    }

    #[derive(Debug, Clone)]
    enum Step {
        Allow,
        Success,
        Failure,
    }

    proptest! {
        #[test]
        fn an_open_breaker_refuses_every_call_until_reset_timeout(
            threshold in 1..5u32,
            reset_ms in 1..20_000u64,
            trials in 1..3u32,
            steps in proptest::collection::vec(
                (prop_oneof![Just(Step::Allow), Just(Step::Success), Just(Step::Failure)],
                 0..5_000u64),
                0..80,
            ),
        ) {
            let config = BreakerConfig {
                failure_threshold: threshold,
                reset_timeout: Duration::from_millis(reset_ms),
                half_open_max_calls: trials,
            };
            let mut b = CircuitBreaker::new(config.clone());
            let mut now = T0;
            let mut opened_at: Option<OffsetDateTime> = None;
            for (step, after_ms) in &steps {
                now += Duration::from_millis(*after_ms);
                let was_open = matches!(b.state(now), BreakerState::Open { .. });
                match step {
                    Step::Allow => {
                        let allowed = b.allow(now);
                        if opened_at.is_some_and(|t| now < t + config.reset_timeout) {
                            prop_assert!(!allowed, "allowed while open");
                        }
                    }
                    Step::Success => b.on_success(now),
                    Step::Failure => b.on_failure(now),
                }
                match b.state(now) {
                    BreakerState::Open { until } if !was_open => {
                        prop_assert_eq!(until, now + config.reset_timeout);
                        opened_at = Some(now);
                    }
                    BreakerState::Closed => opened_at = None,
                    _ => {}
                }
            }
        }
    }
}
