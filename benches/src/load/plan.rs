//! What a load run does, decided before it starts: the profiles of PRD NFR-2, the plan a
//! profile and the command line's overrides make, and the open-loop send schedule.
//!
//! Profile N runs N simulated gateways. Its task rate and concurrency fix the simulated run
//! length (concurrency = rate × run length: 100 at 50 tasks/s is a 2 s run), its API request
//! rate minus the task rate is sent as reads, and each gateway gets twice its share of the
//! concurrency as sessions, so the gateways are not what limits a run.

use std::time::Duration;

/// Where the server keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// The embedded SQLite store in a temporary data folder.
    Embedded,
    /// Postgres (a fresh database on 127.0.0.1:5432) with Redis (a fresh key prefix on
    /// 127.0.0.1:6379) as its index.
    PgRedis,
}

impl Backend {
    /// The name used on the command line and in reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::PgRedis => "pg-redis",
        }
    }
}

/// One row of PRD NFR-2.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Profile {
    /// The profile's name: its number of sessions, which is the number of simulated gateways.
    pub sessions: u32,
    /// Tasks submitted per second.
    pub tasks_per_s: f64,
    /// Tasks running at once.
    pub concurrent: u32,
    /// Events per second the PRD expects (reported beside the observed rate, not driven).
    pub events_per_s: f64,
    /// API requests per second, task submissions included.
    pub api_per_s: f64,
}

/// The profiles of PRD NFR-2: 10, 25 and 50 sessions.
pub const PROFILES: [Profile; 3] = [
    Profile {
        sessions: 10,
        tasks_per_s: 50.0,
        concurrent: 100,
        events_per_s: 500.0,
        api_per_s: 1_000.0,
    },
    Profile {
        sessions: 25,
        tasks_per_s: 100.0,
        concurrent: 250,
        events_per_s: 1_000.0,
        api_per_s: 2_000.0,
    },
    Profile {
        sessions: 50,
        tasks_per_s: 200.0,
        concurrent: 500,
        events_per_s: 2_000.0,
        api_per_s: 5_000.0,
    },
];

impl Profile {
    /// The profile named `sessions` (10, 25 or 50).
    #[must_use]
    pub fn named(sessions: u32) -> Option<Self> {
        PROFILES.iter().copied().find(|p| p.sessions == sessions)
    }

    /// The simulated run length that gives the profile's concurrency at its task rate.
    #[must_use]
    pub fn run_ms(&self) -> u64 {
        (f64::from(self.concurrent) / self.tasks_per_s * 1000.0).round() as u64
    }
}

/// What the command line may change in a profile.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    /// Tasks per second instead of the profile's.
    pub rate: Option<f64>,
    /// Reads per second instead of the profile's API rate minus its task rate.
    pub reads_per_s: Option<f64>,
    /// Gateways instead of the profile's sessions.
    pub gateways: Option<usize>,
    /// Simulated run length instead of the profile's.
    pub run_ms: Option<u64>,
}

/// The shape of one load run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Plan {
    /// Simulated gateways.
    pub gateways: usize,
    /// Tasks submitted per second (open loop).
    pub rate: f64,
    /// Reads (`GET`s) per second besides the submissions (open loop).
    pub reads_per_s: f64,
    /// How long a simulated run streams, ms.
    pub run_ms: u64,
    /// Sessions (runs at once) each gateway is registered with.
    pub max_sessions: u32,
    /// Measured seconds.
    pub seconds: f64,
    /// Seconds sent before the measured window, not measured.
    pub warmup: f64,
}

impl Plan {
    /// The plan of `profile` with `overrides`, measuring `seconds` after `warmup`.
    #[must_use]
    pub fn new(profile: &Profile, overrides: Overrides, seconds: f64, warmup: f64) -> Self {
        let gateways = overrides
            .gateways
            .unwrap_or(profile.sessions as usize)
            .max(1);
        let rate = overrides.rate.unwrap_or(profile.tasks_per_s);
        let run_ms = overrides.run_ms.unwrap_or_else(|| profile.run_ms());
        let reads_per_s = overrides
            .reads_per_s
            .unwrap_or(profile.api_per_s - profile.tasks_per_s)
            .max(0.0);
        let mut plan = Self {
            gateways,
            rate,
            reads_per_s,
            run_ms,
            max_sessions: 1,
            seconds,
            warmup,
        };
        plan.max_sessions = plan.sessions_for(rate);
        plan
    }

    /// Sessions per gateway for `rate`: twice its share of the concurrency (rate × run length),
    /// at least 1.
    #[must_use]
    pub fn sessions_for(&self, rate: f64) -> u32 {
        let concurrent = rate * self.run_ms as f64 / 1000.0;
        let share = 2.0 * concurrent / self.gateways as f64;
        (share.ceil() as u32).max(1)
    }

    /// The same plan at another task rate (sessions unchanged: they are fixed at start).
    #[must_use]
    pub fn at_rate(&self, rate: f64) -> Self {
        Self { rate, ..*self }
    }
}

/// The open-loop schedule of one request stream: send `i` is due `i / rate` seconds after the
/// stream's start, whatever happened to the sends before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Sends per second.
    pub rate: f64,
    /// How many sends.
    pub count: u64,
}

impl Schedule {
    /// A stream at `rate` for `seconds`; empty when either is not positive.
    #[must_use]
    pub fn new(rate: f64, seconds: f64) -> Self {
        let count = if rate > 0.0 && seconds > 0.0 {
            (rate * seconds).round() as u64
        } else {
            0
        };
        Self { rate, count }
    }

    /// When send `i` is due, from the stream's start.
    #[must_use]
    pub fn due(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profiles_are_those_of_nfr_2() {
        let rows: Vec<_> = PROFILES
            .iter()
            .map(|p| (p.sessions, p.tasks_per_s, p.concurrent, p.events_per_s))
            .collect();
        assert_eq!(
            rows,
            [
                (10, 50.0, 100, 500.0),
                (25, 100.0, 250, 1_000.0),
                (50, 200.0, 500, 2_000.0)
            ]
        );
        assert_eq!(Profile::named(25).map(|p| p.api_per_s), Some(2_000.0));
        assert_eq!(Profile::named(11), None);
    }

    #[test]
    fn a_profile_plan_gives_its_concurrency_with_headroom_on_its_gateways() {
        let p10 = Profile::named(10).unwrap();
        assert_eq!(p10.run_ms(), 2_000, "100 at 50/s");
        let plan = Plan::new(&p10, Overrides::default(), 10.0, 2.0);
        assert_eq!(plan.gateways, 10);
        assert_eq!(plan.rate, 50.0);
        assert_eq!(
            plan.reads_per_s, 950.0,
            "1,000 API requests/s, 50 of them submissions"
        );
        assert_eq!(plan.max_sessions, 20, "twice 100 over 10 gateways");
        assert_eq!(Profile::named(50).unwrap().run_ms(), 2_500);
    }

    #[test]
    fn overrides_replace_the_profile_values() {
        let p10 = Profile::named(10).unwrap();
        let plan = Plan::new(
            &p10,
            Overrides {
                rate: Some(1_000.0),
                reads_per_s: Some(0.0),
                gateways: Some(4),
                run_ms: Some(100),
            },
            3.0,
            0.0,
        );
        assert_eq!(
            (plan.gateways, plan.rate, plan.reads_per_s),
            (4, 1_000.0, 0.0)
        );
        assert_eq!(plan.max_sessions, 50, "2 × 100 concurrent / 4");
        assert_eq!(
            plan.at_rate(5.0).max_sessions,
            50,
            "sessions stay as started"
        );
        assert_eq!(plan.sessions_for(0.1), 1, "never fewer than one");
    }

    #[test]
    fn the_schedule_is_evenly_spaced_and_independent_of_answers() {
        let s = Schedule::new(200.0, 2.0);
        assert_eq!(s.count, 400);
        assert_eq!(s.due(0), Duration::ZERO);
        assert_eq!(s.due(1), Duration::from_millis(5));
        assert_eq!(s.due(399), Duration::from_millis(1_995));
        assert_eq!(Schedule::new(0.0, 5.0).count, 0);
        assert_eq!(Schedule::new(10.0, -1.0).count, 0);
        assert_eq!(
            Schedule::new(3.0, 0.5).count,
            2,
            "rounded to the nearest send"
        );
    }
}
