//! Reconnect delays: exponential backoff (initial, doubled per failure, capped) with jitter
//! from a tiny xorshift generator seeded from the clock (no `rand` in the workspace).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Delays between reconnect attempts.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    failures: u32,
    rng: XorShift,
}

impl Backoff {
    /// Starts at `initial`, doubles up to `max`, each delay varied by ±`jitter` (a fraction,
    /// clamped to 0..=1) and never above `max`.
    pub(crate) fn new(initial: Duration, max: Duration, jitter: f64) -> Self {
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Self {
            initial,
            max: max.max(initial),
            jitter,
            failures: 0,
            rng: XorShift::from_clock(),
        }
    }

    /// The delay before the next attempt; each call counts one more failure.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(31));
        let base = self.initial.saturating_mul(factor).min(self.max);
        self.failures = self.failures.saturating_add(1);
        if self.jitter == 0.0 {
            return base;
        }
        let spread = self.jitter * (2.0 * self.rng.unit() - 1.0);
        Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 + spread))
            .unwrap_or(base)
            .min(self.max)
    }

    /// After a success: the next failure waits `initial` again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Marsaglia's xorshift64: not cryptographic, only to spread reconnects of many clients.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn from_clock() -> Self {
        static SALT: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Truncation is fine: only the fast-moving low bits matter for a seed.
        #[allow(clippy::cast_possible_truncation)]
        let seed = (nanos as u64) ^ SALT.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        Self(if seed == 0 {
            0x2545_F491_4F6C_DD1D
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        // 53 random bits fit an f64 mantissa exactly.
        #[allow(clippy::cast_precision_loss)]
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_without_jitter() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 0.0);
        let delays: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_its_band_and_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 0.5);
        for _ in 0..200 {
            b.reset();
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_millis(150),
                "{d:?}"
            );
        }
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn never_overflows() {
        let mut b = Backoff::new(Duration::MAX, Duration::MAX, 1.0);
        for _ in 0..100 {
            let _ = b.next_delay();
        }
        let mut nan = Backoff::new(Duration::from_secs(1), Duration::from_secs(2), f64::NAN);
        assert_eq!(nan.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn two_generators_differ() {
        let (mut a, mut b) = (XorShift::from_clock(), XorShift::from_clock());
        assert_ne!(a.next(), b.next());
    }
}
