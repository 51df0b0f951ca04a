//! The health model: how probe results and silence move an instance between `unknown`,
//! `healthy`, `degraded` and `unhealthy`.
//!
//! [`HealthTracker`] is a pure state machine, one per instance. The engine probes on
//! [`HealthConfig::probe_interval`] and feeds it what happened ([`HealthTracker::on_success`],
//! [`HealthTracker::on_failure`]) and, on every tick of its loop, the time
//! ([`HealthTracker::on_tick`]), so an instance whose probes never come back is still marked.

use std::time::Duration;

use godel_types::InstanceHealth;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::FederationError;

/// How instances are probed and when missed probes change their health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    /// Time between two probes of one instance (default 5 s).
    #[serde(with = "crate::serde_duration")]
    pub probe_interval: Duration,
    /// How long a probe may take before it counts as missed (default 2 s).
    #[serde(with = "crate::serde_duration")]
    pub probe_timeout: Duration,
    /// Missed probes in a row that make a healthy instance degraded (default 1).
    pub degraded_after: u32,
    /// Missed probes in a row that make an instance unhealthy (default 3).
    pub unhealthy_after: u32,
    /// Successful probes in a row that make a degraded or unhealthy instance healthy again
    /// (default 1).
    pub recover_after: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(2),
            degraded_after: 1,
            unhealthy_after: 3,
            recover_after: 1,
        }
    }
}

impl HealthConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`FederationError::Invalid`] naming the first field out of range: zero durations or
    /// counts, or `unhealthy_after` below `degraded_after`.
    pub fn validate(&self) -> Result<(), FederationError> {
        if self.probe_interval.is_zero() {
            return Err(FederationError::invalid(
                "probe_interval",
                "must be positive",
            ));
        }
        if self.probe_timeout.is_zero() {
            return Err(FederationError::invalid(
                "probe_timeout",
                "must be positive",
            ));
        }
        if self.degraded_after == 0 {
            return Err(FederationError::invalid(
                "degraded_after",
                "must be at least 1",
            ));
        }
        if self.unhealthy_after < self.degraded_after {
            return Err(FederationError::invalid(
                "unhealthy_after",
                "must be at least degraded_after",
            ));
        }
        if self.recover_after == 0 {
            return Err(FederationError::invalid(
                "recover_after",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The same config with counts out of range raised to their least sensible value, so a
    /// tracker never misbehaves on a config that skipped [`validate`](Self::validate).
    fn clamped(self) -> Self {
        let degraded_after = self.degraded_after.max(1);
        Self {
            degraded_after,
            unhealthy_after: self.unhealthy_after.max(degraded_after),
            recover_after: self.recover_after.max(1),
            ..self
        }
    }
}

/// A change of an instance's health, to be recorded and published as an `instance.*` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    /// The health before.
    pub from: InstanceHealth,
    /// The health after (never equal to `from`).
    pub to: InstanceHealth,
    /// Why, for operators (lowercase, no trailing period).
    pub reason: String,
}

/// The health state machine of one instance.
///
/// Rules (DESIGN §6):
/// - `unknown` becomes `healthy` on the first successful probe (`degraded` if that probe
///   reports a degraded event loop); it stays `unknown` while probes are missed, until
///   `unhealthy_after` misses make it `unhealthy`.
/// - `healthy` becomes `degraded` after `degraded_after` missed probes, or at once when a probe
///   reports a degraded event loop; any state but `unhealthy` becomes `unhealthy` after
///   `unhealthy_after` missed probes.
/// - `degraded` and `unhealthy` become `healthy` after `recover_after` clean successful probes in
///   a row; until then a successful probe makes an `unhealthy` instance `degraded` (reachable,
///   not trusted with new sessions yet).
///
/// Missed probes are the larger of the failures reported in a row and the probes that fell due
/// since the last success (or since tracking began) and are past their timeout:
/// `(elapsed - probe_timeout) / probe_interval`. The timeout grace keeps a probe that is still in
/// flight from counting as missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTracker {
    config: HealthConfig,
    health: InstanceHealth,
    /// Last success, or when tracking began if there was none: where silence is measured from.
    since: OffsetDateTime,
    last_success: Option<OffsetDateTime>,
    failures: u32,
    successes: u32,
}

impl HealthTracker {
    /// A tracker for a newly registered instance (health `unknown`), measuring silence from `now`.
    #[must_use]
    pub fn new(config: HealthConfig, now: OffsetDateTime) -> Self {
        Self::restore(config, InstanceHealth::Unknown, None, now)
    }

    /// A tracker resuming an instance whose health and last successful probe were stored (for
    /// example after a restart or a change of leader). Silence is measured from `last_success`,
    /// or from `now` if there was none.
    #[must_use]
    pub fn restore(
        config: HealthConfig,
        health: InstanceHealth,
        last_success: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            config: config.clamped(),
            health,
            since: last_success.unwrap_or(now),
            last_success,
            failures: 0,
            successes: 0,
        }
    }

    /// The instance's health now.
    #[must_use]
    pub fn health(&self) -> InstanceHealth {
        self.health
    }

    /// When a probe last succeeded (the instance's `last_heartbeat`).
    #[must_use]
    pub fn last_success(&self) -> Option<OffsetDateTime> {
        self.last_success
    }

    /// Clean successful probes in a row.
    #[must_use]
    pub fn consecutive_successes(&self) -> u32 {
        self.successes
    }

    /// The config in use (counts raised to at least their least sensible value).
    #[must_use]
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Probes missed in a row as of `now`: reported failures, or probes fallen due in silence,
    /// whichever is larger.
    #[must_use]
    pub fn missed(&self, now: OffsetDateTime) -> u32 {
        self.failures.max(self.silent_misses(now))
    }

    /// A probe answered. `degraded_report` is set when the gateway reported a degraded event
    /// loop.
    pub fn on_success(
        &mut self,
        now: OffsetDateTime,
        degraded_report: bool,
    ) -> Option<HealthChange> {
        use InstanceHealth::{Degraded, Healthy, Unhealthy, Unknown};
        self.failures = 0;
        self.since = now;
        self.last_success = Some(now);
        if degraded_report {
            self.successes = 0;
            return self.move_to(Degraded, || "gateway reported a degraded event loop".into());
        }
        self.successes = self.successes.saturating_add(1);
        let recovered = self.successes >= self.config.recover_after;
        match self.health {
            Unknown => self.move_to(Healthy, || "first successful probe".into()),
            Healthy => None,
            Degraded | Unhealthy if recovered => {
                let n = self.successes;
                self.move_to(Healthy, || format!("{n} successful probes in a row"))
            }
            Degraded => None,
            Unhealthy => {
                let need = self.config.recover_after;
                self.move_to(Degraded, || {
                    format!("probe answered again; healthy after {need} in a row")
                })
            }
        }
    }

    /// A probe failed or timed out, for `reason` (e.g. the error it failed with).
    pub fn on_failure(&mut self, now: OffsetDateTime, reason: &str) -> Option<HealthChange> {
        self.failures = self.failures.saturating_add(1);
        self.successes = 0;
        let missed = self.missed(now);
        self.after_misses(missed, || format!("{missed} probes missed, last: {reason}"))
    }

    /// Time passed: marks an instance that has been silent too long even if no probe result
    /// ever arrives.
    pub fn on_tick(&mut self, now: OffsetDateTime) -> Option<HealthChange> {
        let silent = self.silent_misses(now);
        if silent == 0 {
            return None;
        }
        self.successes = 0;
        let missed = self.missed(now);
        let since = self.since;
        self.after_misses(missed, || {
            let secs = (now - since).whole_seconds();
            format!("no successful probe for {secs}s ({missed} probes missed)")
        })
    }

    fn after_misses(
        &mut self,
        missed: u32,
        reason: impl FnOnce() -> String,
    ) -> Option<HealthChange> {
        if missed >= self.config.unhealthy_after {
            self.move_to(InstanceHealth::Unhealthy, reason)
        } else if missed >= self.config.degraded_after && self.health == InstanceHealth::Healthy {
            self.move_to(InstanceHealth::Degraded, reason)
        } else {
            None
        }
    }

    fn move_to(
        &mut self,
        to: InstanceHealth,
        reason: impl FnOnce() -> String,
    ) -> Option<HealthChange> {
        if self.health == to {
            return None;
        }
        let from = std::mem::replace(&mut self.health, to);
        Some(HealthChange {
            from,
            to,
            reason: reason(),
        })
    }

    fn silent_misses(&self, now: OffsetDateTime) -> u32 {
        let elapsed = Duration::try_from(now - self.since).unwrap_or(Duration::ZERO);
        let overdue = elapsed.saturating_sub(self.config.probe_timeout);
        let interval = self.config.probe_interval.as_nanos();
        if interval == 0 {
            return 0;
        }
        u32::try_from(overdue.as_nanos() / interval).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;
    use InstanceHealth::{Degraded, Healthy, Unhealthy, Unknown};

    const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

    fn at(ms: u64) -> OffsetDateTime {
        T0 + Duration::from_millis(ms)
    }

    fn tracker() -> HealthTracker {
        HealthTracker::new(HealthConfig::default(), T0)
    }

    fn to(change: Option<HealthChange>) -> Option<InstanceHealth> {
        change.map(|c| c.to)
    }

    #[test]
    fn defaults_are_the_documented_ones_and_valid() {
        let c = HealthConfig::default();
        assert_eq!(c.probe_interval, Duration::from_secs(5));
        assert_eq!(c.probe_timeout, Duration::from_secs(2));
        assert_eq!(
            (c.degraded_after, c.unhealthy_after, c.recover_after),
            (1, 3, 1)
        );
        assert!(c.validate().is_ok());
    }

    #[test]
    fn config_reads_durations_as_milliseconds_and_fills_defaults() {
        let c: HealthConfig = serde_json::from_str(r#"{"probe_interval": 1500}"#).unwrap();
        assert_eq!(c.probe_interval, Duration::from_millis(1500));
        assert_eq!(c.unhealthy_after, 3);
        let json = serde_json::to_value(HealthConfig::default()).unwrap();
        assert_eq!(json["probe_timeout"], 2000);
    }

    #[test]
    fn validate_names_the_field_out_of_range() {
        let bad = HealthConfig {
            unhealthy_after: 0,
            ..HealthConfig::default()
        };
        let err = bad.validate().unwrap_err();
        assert!(err.to_string().contains("unhealthy_after"), "{err}");
        let bad = HealthConfig {
            probe_interval: Duration::ZERO,
            ..HealthConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("probe_interval")
        );
    }

    #[test]
    fn first_success_makes_an_unknown_instance_healthy() {
        let mut t = tracker();
        let change = t.on_success(at(100), false).unwrap();
        assert_eq!((change.from, change.to), (Unknown, Healthy));
        assert_eq!(t.last_success(), Some(at(100)));
        assert_eq!(t.on_success(at(5_100), false), None);
    }

    #[test]
    fn first_success_reporting_a_degraded_loop_gives_degraded() {
        let mut t = tracker();
        assert_eq!(to(t.on_success(at(0), true)), Some(Degraded));
    }

    #[test]
    fn missed_probes_degrade_then_make_unhealthy() {
        let mut t = tracker();
        t.on_success(at(0), false);
        let change = t.on_failure(at(5_000), "timeout").unwrap();
        assert_eq!((change.from, change.to), (Healthy, Degraded));
        assert!(change.reason.contains("timeout"), "{}", change.reason);
        assert_eq!(t.on_failure(at(10_000), "timeout"), None);
        assert_eq!(to(t.on_failure(at(15_000), "timeout")), Some(Unhealthy));
        assert_eq!(t.on_failure(at(20_000), "timeout"), None);
    }

    #[test]
    fn a_silent_instance_is_marked_by_ticks_alone() {
        let mut t = tracker();
        t.on_success(at(0), false);
        // The probe due at 5 s is in flight until its 2 s timeout: not missed yet.
        assert_eq!(t.on_tick(at(6_999)), None);
        assert_eq!(t.missed(at(6_999)), 0);
        assert_eq!(to(t.on_tick(at(7_000))), Some(Degraded));
        assert_eq!(t.on_tick(at(16_999)), None);
        let change = t.on_tick(at(17_000)).unwrap();
        assert_eq!((change.from, change.to), (Degraded, Unhealthy));
        assert!(change.reason.contains("17s"), "{}", change.reason);
    }

    #[test]
    fn an_instance_never_answering_goes_from_unknown_to_unhealthy() {
        let mut t = tracker();
        assert_eq!(t.on_tick(at(7_000)), None);
        assert_eq!(t.health(), Unknown);
        assert_eq!(t.on_tick(at(16_999)), None);
        let change = t.on_tick(at(17_000)).unwrap();
        assert_eq!((change.from, change.to), (Unknown, Unhealthy));
    }

    #[test]
    fn one_success_recovers_with_default_config() {
        let mut t = tracker();
        t.on_success(at(0), false);
        t.on_tick(at(20_000));
        assert_eq!(t.health(), Unhealthy);
        assert_eq!(to(t.on_success(at(21_000), false)), Some(Healthy));
    }

    #[test]
    fn recovery_waits_for_recover_after_successes_in_a_row() {
        let config = HealthConfig {
            recover_after: 3,
            ..HealthConfig::default()
        };
        let mut t = HealthTracker::new(config, T0);
        t.on_success(at(0), false);
        for n in 1..=3 {
            t.on_failure(at(n * 1_000), "refused");
        }
        assert_eq!(t.health(), Unhealthy);
        assert_eq!(to(t.on_success(at(4_000), false)), Some(Degraded));
        assert_eq!(t.on_success(at(5_000), false), None);
        // A failure breaks the run: counting starts again.
        t.on_failure(at(6_000), "refused");
        assert_eq!(t.on_success(at(7_000), false), None);
        assert_eq!(t.on_success(at(8_000), false), None);
        let change = t.on_success(at(9_000), false).unwrap();
        assert_eq!((change.from, change.to), (Degraded, Healthy));
    }

    #[test]
    fn a_degraded_report_makes_a_healthy_instance_degraded_until_a_clean_probe() {
        let mut t = tracker();
        t.on_success(at(0), false);
        let change = t.on_success(at(5_000), true).unwrap();
        assert_eq!((change.from, change.to), (Healthy, Degraded));
        assert!(change.reason.contains("event loop"), "{}", change.reason);
        assert_eq!(t.on_success(at(10_000), true), None);
        assert_eq!(to(t.on_success(at(15_000), false)), Some(Healthy));
    }

    #[test]
    fn a_restored_tracker_measures_silence_from_the_stored_heartbeat() {
        let mut t =
            HealthTracker::restore(HealthConfig::default(), Healthy, Some(at(0)), at(60_000));
        assert_eq!(to(t.on_tick(at(60_000))), Some(Unhealthy));
        let mut fresh = HealthTracker::restore(HealthConfig::default(), Healthy, None, at(60_000));
        assert_eq!(fresh.on_tick(at(61_000)), None);
    }

    #[test]
    fn a_clock_going_backwards_counts_no_misses() {
        let mut t = tracker();
        t.on_success(at(10_000), false);
        assert_eq!(t.on_tick(at(0)), None);
        assert_eq!(t.missed(at(0)), 0);
    }

    #[test]
    fn an_invalid_config_is_clamped_rather_than_flapping() {
        let config = HealthConfig {
            degraded_after: 0,
            unhealthy_after: 0,
            recover_after: 0,
            ..HealthConfig::default()
        };
        let mut t = HealthTracker::new(config, T0);
        t.on_success(at(0), false);
        assert_eq!(t.on_tick(at(1_000)), None);
        assert_eq!(t.health(), Healthy);
    }

    #[derive(Debug, Clone)]
    enum Step {
        Success { after_ms: u64, degraded: bool },
        Failure { after_ms: u64 },
        Tick { after_ms: u64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..12_000u64, proptest::bool::weighted(0.2))
                .prop_map(|(after_ms, degraded)| Step::Success { after_ms, degraded }),
            (0..12_000u64).prop_map(|after_ms| Step::Failure { after_ms }),
            (0..12_000u64).prop_map(|after_ms| Step::Tick { after_ms }),
        ]
    }

    fn config() -> impl Strategy<Value = HealthConfig> {
        (1..4u32, 0..4u32, 1..4u32, 1_000..8_000u64, 500..3_000u64).prop_map(
            |(degraded_after, extra, recover_after, interval, timeout)| HealthConfig {
                probe_interval: Duration::from_millis(interval),
                probe_timeout: Duration::from_millis(timeout),
                degraded_after,
                unhealthy_after: degraded_after + extra,
                recover_after,
            },
        )
    }

    /// Runs `steps`, returning every change with the time it happened at.
    fn run(config: HealthConfig, steps: &[Step]) -> Vec<(OffsetDateTime, HealthChange)> {
        let mut t = HealthTracker::new(config, T0);
        let mut now = T0;
        let mut changes = Vec::new();
        for step in steps {
            let change = match *step {
                Step::Success { after_ms, degraded } => {
                    now += Duration::from_millis(after_ms);
                    t.on_success(now, degraded)
                }
                Step::Failure { after_ms } => {
                    now += Duration::from_millis(after_ms);
                    t.on_failure(now, "probe failed")
                }
                Step::Tick { after_ms } => {
                    now += Duration::from_millis(after_ms);
                    t.on_tick(now)
                }
            };
            changes.extend(change.map(|c| (now, c)));
        }
        changes
    }

    proptest! {
        #[test]
        fn unhealthy_is_reached_only_through_enough_misses(
            config in config(),
            steps in proptest::collection::vec(step(), 0..60),
        ) {
            let mut t = HealthTracker::new(config.clone(), T0);
            let mut now = T0;
            for step in &steps {
                let before = t.health();
                let change = match *step {
                    Step::Success { after_ms, degraded } => {
                        now += Duration::from_millis(after_ms);
                        t.on_success(now, degraded)
                    }
                    Step::Failure { after_ms } => {
                        now += Duration::from_millis(after_ms);
                        t.on_failure(now, "x")
                    }
                    Step::Tick { after_ms } => {
                        now += Duration::from_millis(after_ms);
                        t.on_tick(now)
                    }
                };
                if let Some(c) = &change {
                    prop_assert_eq!(c.from, before);
                    prop_assert_ne!(c.from, c.to);
                    prop_assert_eq!(c.to, t.health());
                    if c.to == Unhealthy {
                        prop_assert!(t.missed(now) >= config.unhealthy_after);
                        let by_success = matches!(step, Step::Success { .. });
                        prop_assert!(!by_success, "a success made it unhealthy");
                    }
                } else {
                    prop_assert_eq!(t.health(), before);
                }
            }
        }

        #[test]
        fn recovery_needs_recover_after_clean_successes_in_a_row(
            config in config(),
            steps in proptest::collection::vec(step(), 0..60),
        ) {
            let mut t = HealthTracker::new(config.clone(), T0);
            let mut now = T0;
            let mut clean_in_a_row = 0u32;
            for step in &steps {
                let before = t.health();
                let change = match *step {
                    Step::Success { after_ms, degraded } => {
                        now += Duration::from_millis(after_ms);
                        clean_in_a_row = if degraded { 0 } else { clean_in_a_row + 1 };
                        t.on_success(now, degraded)
                    }
                    Step::Failure { after_ms } => {
                        now += Duration::from_millis(after_ms);
                        clean_in_a_row = 0;
                        t.on_failure(now, "x")
                    }
                    Step::Tick { after_ms } => {
                        now += Duration::from_millis(after_ms);
                        t.on_tick(now)
                    }
                };
                if change.is_some_and(|c| c.to == Healthy)
                    && matches!(before, Degraded | Unhealthy)
                {
                    prop_assert!(clean_in_a_row >= config.recover_after);
                }
            }
        }

        #[test]
        fn the_tracker_is_deterministic(
            config in config(),
            steps in proptest::collection::vec(step(), 0..60),
        ) {
            prop_assert_eq!(run(config.clone(), &steps), run(config, &steps));
        }
    }
}
