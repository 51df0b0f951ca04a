//! Retry policy (exponential backoff with optional jitter) and the injectable jitter source.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::QueueError;

/// A source of uniform samples in `[0, 1)` for jitter. Injected so tests stay deterministic.
pub trait Jitter: Send + Sync + fmt::Debug + 'static {
    /// A sample in `[0, 1)`.
    fn sample(&self) -> f64;
}

/// No jitter: every sample is 0, so delays are exactly the exponential schedule.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJitter;

impl Jitter for NoJitter {
    fn sample(&self) -> f64 {
        0.0
    }
}

/// A small, seeded pseudo-random jitter source (SplitMix64); thread-safe.
#[derive(Debug)]
pub struct SeededJitter(AtomicU64);

impl SeededJitter {
    /// A source whose sequence is fixed by `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }
}

impl Jitter for SeededJitter {
    fn sample(&self) -> f64 {
        let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits as a fraction in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }
}

/// When a failed task is tried again, and when it is given up (PRD FR-3).
///
/// Attempt `n` (1-based count of failures so far) waits
/// `min(initial * multiplier^(n-1), max) * (1 - jitter * u)` with `u` from the [`Jitter`] source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Attempts before a task is dead-lettered (default 3). At least 1.
    pub max_attempts: u32,
    /// Delay after the first failure (default 1 s).
    #[serde(with = "crate::serde_duration")]
    pub initial: Duration,
    /// Growth factor per failure (default 2). At least 1.
    pub multiplier: f64,
    /// Upper bound of the delay (default 30 s).
    #[serde(with = "crate::serde_duration")]
    pub max: Duration,
    /// Fraction of the delay that may be taken off at random, in `[0, 1]` (default 0: none).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max: Duration::from_secs(30),
            jitter: 0.0,
        }
    }
}

impl RetryPolicy {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), QueueError> {
        if self.max_attempts == 0 {
            return Err(QueueError::invalid(
                "retry.max_attempts",
                "must be at least 1",
            ));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(QueueError::invalid(
                "retry.multiplier",
                "must be a number >= 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(QueueError::invalid(
                "retry.jitter",
                "must be between 0 and 1",
            ));
        }
        if self.max < self.initial {
            return Err(QueueError::invalid(
                "retry.max",
                "must not be below retry.initial",
            ));
        }
        Ok(())
    }

    /// The delay before retrying after the `failures`-th failure (1-based), before jitter.
    #[must_use]
    pub fn base_delay(&self, failures: u32) -> Duration {
        let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        if secs.is_finite() && secs < self.max.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max
        }
    }

    /// The delay before retrying after the `failures`-th failure, with jitter applied.
    #[must_use]
    pub fn delay(&self, failures: u32, jitter: &dyn Jitter) -> Duration {
        let base = self.base_delay(failures);
        if self.jitter == 0.0 {
            return base;
        }
        let u = jitter.sample().clamp(0.0, 1.0);
        base.mul_f64(1.0 - self.jitter * u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_backoff_is_one_two_four_seconds_capped_at_thirty() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = (1..=7).map(|n| p.base_delay(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(p.base_delay(u32::MAX), Duration::from_secs(30));
        assert_eq!(p.max_attempts, 3);
    }

    #[test]
    fn jitter_only_shortens_the_delay_and_within_its_fraction() {
        let p = RetryPolicy {
            jitter: 0.5,
            ..RetryPolicy::default()
        };
        let j = SeededJitter::new(7);
        for n in 1..=6 {
            let d = p.delay(n, &j);
            assert!(d <= p.base_delay(n) && d >= p.base_delay(n) / 2, "{d:?}");
        }
        assert_eq!(p.delay(3, &NoJitter), p.base_delay(3));
    }

    #[test]
    fn seeded_jitter_is_repeatable_and_in_range() {
        let (a, b) = (SeededJitter::new(42), SeededJitter::new(42));
        for _ in 0..1000 {
            let x = a.sample();
            assert_eq!(x, b.sample());
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn out_of_range_policies_are_refused_by_name() {
        let bad = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("max_attempts")
        );
        let bad = RetryPolicy {
            jitter: 1.5,
            ..RetryPolicy::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("jitter"));
        assert!(RetryPolicy::default().validate().is_ok());
    }
}
