//! [`Scale`]: the size of a chaos run, from `GODEL_CHAOS_SCALE`: `ci` (default; every scenario
//! in well under a minute on two cores) or `full` (`cargo xtask chaos`: more tasks, longer load).

use std::time::Duration;

/// How many tasks a scenario submits and how fast; how long a simulated run lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// `ci` or `full`.
    pub name: &'static str,
    /// Tasks submitted per scenario.
    pub tasks: usize,
    /// Pause between two submissions.
    pub submit_every: Duration,
    /// Duration of an ordinary simulated run, in milliseconds.
    pub run_ms: u64,
}

impl Scale {
    /// The small size, for CI.
    pub const CI: Self = Self {
        name: "ci",
        tasks: 40,
        submit_every: Duration::from_millis(100),
        run_ms: 800,
    };

    /// The full size, for `cargo xtask chaos`.
    pub const FULL: Self = Self {
        name: "full",
        tasks: 300,
        submit_every: Duration::from_millis(50),
        run_ms: 1500,
    };

    /// `GODEL_CHAOS_SCALE` (`ci` when unset).
    ///
    /// # Panics
    /// On a value other than `ci` or `full`.
    #[must_use]
    pub fn from_env() -> Self {
        match std::env::var("GODEL_CHAOS_SCALE").as_deref().map(str::trim) {
            Err(_) | Ok("" | "ci") => Self::CI,
            Ok("full") => Self::FULL,
            Ok(other) => panic!("GODEL_CHAOS_SCALE must be `ci` or `full`, not `{other}`"),
        }
    }

    /// How long submitting the whole load takes.
    #[must_use]
    pub fn load_duration(&self) -> Duration {
        self.submit_every * u32::try_from(self.tasks).unwrap_or(u32::MAX)
    }
}
