//! A small deterministic random source (SplitMix64) for the workload's priority draws: the
//! workspace needs no random-number crate for this, and a fixed seed makes runs repeatable.

use godel_queue::Priority;

/// SplitMix64 (Steele, Lea and Flood): fast, and uniform enough to draw one of four levels.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// One of the four levels, each with probability 1/4.
    pub(crate) fn priority(&mut self) -> Priority {
        Priority::ALL[(self.next_u64() >> 62) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_drawn_about_uniformly_and_repeatably() {
        let mut rng = SplitMix64::new(7);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[rng.priority().rank()] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        let a: Vec<u64> = (0..3).map(|_| SplitMix64::new(1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
    }
}
