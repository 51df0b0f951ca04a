//! A tiny seeded xorshift64* generator: enough randomness for failure injection, repeatable per
//! seed, and no extra crate.

/// xorshift64* (Vigna); never yields the all-zero state.
#[derive(Debug, Clone)]
pub(crate) struct XorShift {
    state: u64,
}

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        // Mix the seed so that small seeds (0, 1, 2) give unrelated streams; zero is not a valid state.
        let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        Self {
            state: if mixed == 0 {
                0x2545_F491_4F6C_DD1D
            } else {
                mixed
            },
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A float uniformly in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        // 53 random bits, the precision of an f64 mantissa.
        #[allow(clippy::cast_precision_loss)]
        let bits = (self.next_u64() >> 11) as f64;
        bits / (1u64 << 53) as f64
    }

    /// True with probability `p` (clamped to `0..=1`; NaN counts as 0).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        self.next_f64() < p
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift;

    #[test]
    fn same_seed_gives_the_same_stream() {
        let mut a = XorShift::new(7);
        let mut b = XorShift::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn floats_stay_in_the_unit_interval_and_chance_follows_the_rate() {
        let mut rng = XorShift::new(0);
        let mut hits = 0;
        for _ in 0..10_000 {
            let f = rng.next_f64();
            assert!((0.0..1.0).contains(&f));
            if rng.chance(0.25) {
                hits += 1;
            }
        }
        assert!((2_000..3_000).contains(&hits), "hits {hits}");
        assert!(!rng.chance(0.0));
        assert!(!rng.chance(f64::NAN));
        assert!(rng.chance(1.0));
    }
}
