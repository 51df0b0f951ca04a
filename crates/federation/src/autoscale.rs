//! The autoscaling policy: from a snapshot of the fleet and the queue, whether to add instances,
//! drain one, or hold.
//!
//! [`Autoscaler::evaluate`] only decides. The engine carries a decision out through a
//! [`Provisioner`](crate::Provisioner) (scale out) or by draining the named instance and
//! stopping it once idle (scale in).

use std::cmp::Reverse;
use std::time::Duration;

use godel_types::InstanceId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::FederationError;
use crate::instance::Instance;

/// Bounds and triggers of the autoscaler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoscaleConfig {
    /// Fewest non-draining instances to keep (default 1).
    pub min_instances: u32,
    /// Most non-draining instances to run (default 10).
    pub max_instances: u32,
    /// Pool utilisation (load over capacity of the instances taking work) at or above which to
    /// scale out (default 0.8).
    pub scale_out_utilisation: f64,
    /// Pool utilisation below which to scale in (default 0.3).
    pub scale_in_utilisation: f64,
    /// Due queue depth each healthy instance is expected to absorb: more than this times the
    /// healthy instances scales out (default 50).
    pub queue_depth_per_instance: u64,
    /// Quiet time after an action before the next one (default 60 s).
    #[serde(with = "crate::serde_duration")]
    pub cooldown: Duration,
    /// Whether the autoscaler acts at all (default off).
    pub enabled: bool,
}

impl Default for AutoscaleConfig {
    fn default() -> Self {
        Self {
            min_instances: 1,
            max_instances: 10,
            scale_out_utilisation: 0.8,
            scale_in_utilisation: 0.3,
            queue_depth_per_instance: 50,
            cooldown: Duration::from_secs(60),
            enabled: false,
        }
    }
}

impl AutoscaleConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`FederationError::Invalid`] naming the first field out of range: `max_instances` of 0
    /// or below `min_instances`, utilisations outside `0 < scale_in < scale_out <= 1`, or
    /// `queue_depth_per_instance` of 0.
    pub fn validate(&self) -> Result<(), FederationError> {
        if self.max_instances == 0 {
            return Err(FederationError::invalid(
                "max_instances",
                "must be at least 1",
            ));
        }
        if self.min_instances > self.max_instances {
            return Err(FederationError::invalid(
                "min_instances",
                "must not exceed max_instances",
            ));
        }
        if !(self.scale_out_utilisation > 0.0 && self.scale_out_utilisation <= 1.0) {
            return Err(FederationError::invalid(
                "scale_out_utilisation",
                "must be in (0, 1]",
            ));
        }
        if !(self.scale_in_utilisation > 0.0
            && self.scale_in_utilisation < self.scale_out_utilisation)
        {
            return Err(FederationError::invalid(
                "scale_in_utilisation",
                "must be in (0, scale_out_utilisation)",
            ));
        }
        if self.queue_depth_per_instance == 0 {
            return Err(FederationError::invalid(
                "queue_depth_per_instance",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// What the autoscaler looks at: every registered instance and the queue's due depth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetSnapshot {
    /// Every registered instance, draining or not, in any health.
    pub instances: Vec<Instance>,
    /// Tasks due and waiting for an agent, over all tenants.
    pub queue_depth: u64,
}

/// What to do about the fleet's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleDecision {
    /// Nothing.
    Hold {
        /// Why, for operators.
        reason: String,
    },
    /// Start `count` more instances.
    ScaleOut {
        /// How many (at least 1).
        count: u32,
        /// Why, for operators.
        reason: String,
    },
    /// Drain this instance, then stop it.
    ScaleIn {
        /// The instance to drain.
        drain: InstanceId,
        /// Why, for operators.
        reason: String,
    },
}

impl ScaleDecision {
    /// Why the decision was taken.
    #[must_use]
    pub fn reason(&self) -> &str {
        match self {
            Self::Hold { reason }
            | Self::ScaleOut { reason, .. }
            | Self::ScaleIn { reason, .. } => reason,
        }
    }

    fn hold(reason: impl Into<String>) -> Self {
        Self::Hold {
            reason: reason.into(),
        }
    }
}

/// The autoscaling policy, remembering when it last acted (for the cooldown).
///
/// Rules, in order:
/// 1. Disabled, or within `cooldown` of the last action: hold.
/// 2. Fewer non-draining instances than `min_instances`: scale out to the minimum, whatever
///    the load.
/// 3. Utilisation of the instances taking work at or above `scale_out_utilisation`, or due
///    queue depth above `queue_depth_per_instance` × those instances: scale out by enough
///    instances (of their average size) to bring both under their thresholds; at least 1,
///    never past `max_instances`.
/// 4. Utilisation below `scale_in_utilisation`: drain the healthy, non-draining instance with
///    the lowest load (ties: the most recently registered, then the smallest id), unless that
///    would leave fewer than `min_instances`, leave queue depth above its threshold, or push
///    utilisation to the scale-out threshold.
/// 5. Otherwise hold.
///
/// Instances count towards the bounds when not draining, whatever their health; utilisation
/// and queue thresholds count only instances taking work ([`Instance::accepts_work`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscaler {
    /// The policy's bounds and triggers.
    pub config: AutoscaleConfig,
    /// When it last decided to scale (starts the cooldown); `None` before its first action.
    pub last_action: Option<OffsetDateTime>,
}

impl Autoscaler {
    /// An autoscaler that has not acted yet. A config that skipped
    /// [`validate`](AutoscaleConfig::validate) still never scales past `max_instances`.
    #[must_use]
    pub fn new(config: AutoscaleConfig) -> Self {
        Self {
            config,
            last_action: None,
        }
    }

    /// An autoscaler with a validated config.
    ///
    /// # Errors
    /// What [`AutoscaleConfig::validate`] returns.
    pub fn try_new(config: AutoscaleConfig) -> Result<Self, FederationError> {
        config.validate()?;
        Ok(Self::new(config))
    }

    /// The same autoscaler, remembering an action at `at` (for example one taken by a previous
    /// leader), so its cooldown holds.
    #[must_use]
    pub fn with_last_action(mut self, at: Option<OffsetDateTime>) -> Self {
        self.last_action = at;
        self
    }

    /// Decides what to do at `now`; a scale-out or scale-in starts the cooldown.
    pub fn evaluate(&mut self, fleet: &FleetSnapshot, now: OffsetDateTime) -> ScaleDecision {
        let decision = self.decide(fleet, now);
        if !matches!(decision, ScaleDecision::Hold { .. }) {
            self.last_action = Some(now);
        }
        decision
    }

    fn decide(&self, fleet: &FleetSnapshot, now: OffsetDateTime) -> ScaleDecision {
        let c = &self.config;
        if !c.enabled {
            return ScaleDecision::hold("autoscaling is disabled");
        }
        if let Some(ready_at) = self.last_action.map(|last| last + c.cooldown)
            && now < ready_at
        {
            return ScaleDecision::hold(format!("cooling down until {ready_at}"));
        }
        let max = c.max_instances;
        let min = c.min_instances.min(max);
        let active = fleet.instances.iter().filter(|i| !i.draining).count();
        let active = u32::try_from(active).unwrap_or(u32::MAX);
        let room = max.saturating_sub(active);
        if active < min {
            return ScaleDecision::ScaleOut {
                count: (min - active).min(room),
                reason: format!("{active} instances, below min_instances {min}"),
            };
        }

        let pool = Pool::of(fleet);
        let per_instance = c.queue_depth_per_instance.max(1);
        let utilisation = pool.utilisation();
        let hot = pool.capacity > 0 && utilisation >= c.scale_out_utilisation;
        let backlog = fleet.queue_depth > per_instance.saturating_mul(pool.healthy);
        if hot || backlog {
            let why = if hot {
                format!(
                    "utilisation {:.0}% at or above {:.0}%",
                    utilisation * 100.0,
                    c.scale_out_utilisation * 100.0
                )
            } else {
                format!(
                    "queue depth {} above {per_instance} per instance taking work ({})",
                    fleet.queue_depth, pool.healthy
                )
            };
            if room == 0 {
                return ScaleDecision::hold(format!("{why}, but at max_instances {max}"));
            }
            let for_load = if hot {
                pool.instances_for_utilisation(c.scale_out_utilisation)
            } else {
                0
            };
            let for_queue = fleet
                .queue_depth
                .div_ceil(per_instance)
                .saturating_sub(pool.healthy);
            let wanted = for_load.max(for_queue).max(1);
            let count = u32::try_from(wanted).unwrap_or(u32::MAX).min(room);
            return ScaleDecision::ScaleOut { count, reason: why };
        }

        if pool.capacity > 0 && utilisation < c.scale_in_utilisation {
            if active <= min {
                return ScaleDecision::hold(format!("at min_instances {min}"));
            }
            let Some(candidate) = drain_candidate(&fleet.instances) else {
                return ScaleDecision::hold("no healthy instance to drain");
            };
            let healthy_after = pool.healthy - 1;
            if fleet.queue_depth > per_instance.saturating_mul(healthy_after) {
                return ScaleDecision::hold(format!(
                    "queue depth {} would be above its threshold after draining",
                    fleet.queue_depth
                ));
            }
            let capacity_after = pool.capacity - u64::from(candidate.max_sessions);
            let utilisation_after = ratio(pool.load, capacity_after);
            if utilisation_after >= c.scale_out_utilisation {
                return ScaleDecision::hold(format!(
                    "draining would raise utilisation to {:.0}%",
                    utilisation_after * 100.0
                ));
            }
            return ScaleDecision::ScaleIn {
                drain: candidate.id,
                reason: format!(
                    "utilisation {:.0}% below {:.0}%",
                    utilisation * 100.0,
                    c.scale_in_utilisation * 100.0
                ),
            };
        }
        ScaleDecision::hold(format!(
            "utilisation {:.0}% and queue depth {} within thresholds",
            utilisation * 100.0,
            fleet.queue_depth
        ))
    }
}

/// Totals over the instances taking work.
struct Pool {
    healthy: u64,
    capacity: u64,
    load: u64,
}

impl Pool {
    fn of(fleet: &FleetSnapshot) -> Self {
        let mut pool = Self {
            healthy: 0,
            capacity: 0,
            load: 0,
        };
        for i in fleet.instances.iter().filter(|i| i.accepts_work()) {
            pool.healthy += 1;
            pool.capacity += u64::from(i.max_sessions);
            pool.load += u64::from(i.load);
        }
        pool
    }

    fn utilisation(&self) -> f64 {
        ratio(self.load, self.capacity)
    }

    /// The fewest instances of the pool's average size that bring utilisation strictly under
    /// `threshold`: the smallest `n` with `load < threshold × (capacity + n × average)`.
    fn instances_for_utilisation(&self, threshold: f64) -> u64 {
        if self.healthy == 0 || self.capacity == 0 || threshold <= 0.0 {
            return 1;
        }
        let average = self.capacity as f64 / self.healthy as f64;
        let deficit = self.load as f64 / threshold - self.capacity as f64;
        if deficit < 0.0 {
            return 0;
        }
        // Saturating float-to-int conversion; the caller caps by max_instances.
        (deficit / average).floor() as u64 + 1
    }
}

/// `load / capacity`; 0 for an empty, idle pool and 1 for load without capacity.
fn ratio(load: u64, capacity: u64) -> f64 {
    match (load, capacity) {
        (0, 0) => 0.0,
        (_, 0) => 1.0,
        _ => load as f64 / capacity as f64,
    }
}

/// The instance to drain: healthy and not draining, with the lowest load; ties go to the most
/// recently registered, then the smallest id.
fn drain_candidate(instances: &[Instance]) -> Option<&Instance> {
    instances
        .iter()
        .filter(|i| i.accepts_work())
        .min_by_key(|i| (i.load, Reverse(i.registered_at), i.id))
}

#[cfg(test)]
mod tests {
    use godel_types::InstanceHealth;
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;
    use crate::instance::InstanceSpec;

    const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

    fn at(secs: u64) -> OffsetDateTime {
        T0 + Duration::from_secs(secs)
    }

    fn instance(n: u128, load: u32, max_sessions: u32) -> Instance {
        let spec = InstanceSpec::new(format!("ws://gw-{n}"), max_sessions);
        let mut i = Instance::new(InstanceId::from_u128(n), spec, at(n as u64));
        i.health = InstanceHealth::Healthy;
        i.load = load;
        i
    }

    fn fleet(instances: Vec<Instance>, queue_depth: u64) -> FleetSnapshot {
        FleetSnapshot {
            instances,
            queue_depth,
        }
    }

    fn enabled() -> AutoscaleConfig {
        AutoscaleConfig {
            enabled: true,
            ..AutoscaleConfig::default()
        }
    }

    fn scaler() -> Autoscaler {
        Autoscaler::try_new(enabled()).unwrap()
    }

    #[test]
    fn defaults_are_the_documented_ones_and_off() {
        let c = AutoscaleConfig::default();
        assert_eq!((c.min_instances, c.max_instances), (1, 10));
        assert_eq!(
            (c.scale_out_utilisation, c.scale_in_utilisation),
            (0.8, 0.3)
        );
        assert_eq!(c.queue_depth_per_instance, 50);
        assert_eq!(c.cooldown, Duration::from_secs(60));
        assert!(!c.enabled);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn config_reads_cooldown_in_milliseconds() {
        let c: AutoscaleConfig =
            serde_json::from_str(r#"{"cooldown": 1500, "enabled": true}"#).unwrap();
        assert_eq!(c.cooldown, Duration::from_millis(1500));
        assert!(c.enabled);
        assert_eq!(c.max_instances, 10);
    }

    #[test]
    fn validate_names_the_field_out_of_range() {
        let field = |c: AutoscaleConfig| match c.validate() {
            Err(FederationError::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        };
        let d = AutoscaleConfig::default();
        assert_eq!(
            field(AutoscaleConfig {
                min_instances: 11,
                ..d
            }),
            "min_instances"
        );
        assert_eq!(
            field(AutoscaleConfig {
                scale_in_utilisation: 0.9,
                ..d
            }),
            "scale_in_utilisation"
        );
        assert_eq!(
            field(AutoscaleConfig {
                scale_out_utilisation: f64::NAN,
                ..d
            }),
            "scale_out_utilisation"
        );
        assert_eq!(
            field(AutoscaleConfig {
                scale_in_utilisation: 0.0,
                ..d
            }),
            "scale_in_utilisation"
        );
    }

    #[test]
    fn a_disabled_autoscaler_always_holds() {
        let mut s = Autoscaler::new(AutoscaleConfig::default());
        let d = s.evaluate(&fleet(vec![], 1_000), T0);
        assert!(matches!(d, ScaleDecision::Hold { .. }), "{d:?}");
        assert!(d.reason().contains("disabled"));
        assert_eq!(s.last_action, None);
    }

    #[test]
    fn below_min_scales_out_to_min_regardless_of_load() {
        let config = AutoscaleConfig {
            min_instances: 3,
            ..enabled()
        };
        let mut s = Autoscaler::new(config.clone());
        let mut draining = instance(2, 0, 10);
        draining.draining = true;
        let d = s.evaluate(&fleet(vec![instance(1, 0, 10), draining], 0), T0);
        assert!(
            matches!(d, ScaleDecision::ScaleOut { count: 2, .. }),
            "{d:?}"
        );
        assert_eq!(s.last_action, Some(T0));
    }

    #[test]
    fn high_utilisation_scales_out_enough_to_get_under_the_threshold() {
        // 18 of 20 slots busy: 90%. Two more 10-slot instances make 18/40 = 45%; one makes
        // 18/30 = 60%, already under 80%.
        let mut s = scaler();
        let d = s.evaluate(&fleet(vec![instance(1, 9, 10), instance(2, 9, 10)], 0), T0);
        assert!(
            matches!(d, ScaleDecision::ScaleOut { count: 1, .. }),
            "{d:?}"
        );

        // 16 of 16 slots busy: 16 < 0.8 × 16 × (1 + n) holds from n = 1.
        let mut s = scaler();
        let d = s.evaluate(&fleet(vec![instance(1, 16, 16)], 0), T0);
        assert!(
            matches!(d, ScaleDecision::ScaleOut { count: 1, .. }),
            "{d:?}"
        );
        let mut s = scaler();
        let d = s.evaluate(&fleet(vec![instance(1, 40, 10)], 0), T0);
        // 40 < 0.8 × 10 × (1 + n) needs n ≥ 5.
        assert!(
            matches!(d, ScaleDecision::ScaleOut { count: 5, .. }),
            "{d:?}"
        );
    }

    #[test]
    fn exactly_at_the_threshold_scales_out() {
        let mut s = scaler();
        let d = s.evaluate(&fleet(vec![instance(1, 8, 10)], 0), T0);
        assert!(
            matches!(d, ScaleDecision::ScaleOut { count: 1, .. }),
            "{d:?}"
        );
    }

    #[test]
    fn a_deep_queue_scales_out_by_its_depth() {
        // 2 healthy instances absorb 100; 260 due needs ceil(260 / 50) = 6 instances.
        let mut s = scaler();
        let d = s.evaluate(
            &fleet(vec![instance(1, 5, 10), instance(2, 5, 10)], 260),
            T0,
        );
        assert!(
            matches!(d, ScaleDecision::ScaleOut { count: 4, .. }),
            "{d:?}"
        );
        assert!(d.reason().contains("queue depth 260"), "{}", d.reason());
    }

    #[test]
    fn scale_out_is_capped_by_max_instances() {
        let config = AutoscaleConfig {
            max_instances: 3,
            ..enabled()
        };
        let mut s = Autoscaler::new(config.clone());
        let d = s.evaluate(&fleet(vec![instance(1, 10, 10)], 10_000), T0);
        assert!(
            matches!(d, ScaleDecision::ScaleOut { count: 2, .. }),
            "{d:?}"
        );

        let mut s = Autoscaler::new(config.clone());
        let full = vec![
            instance(1, 10, 10),
            instance(2, 10, 10),
            instance(3, 10, 10),
        ];
        let d = s.evaluate(&fleet(full, 10_000), T0);
        assert!(matches!(d, ScaleDecision::Hold { .. }), "{d:?}");
        assert!(d.reason().contains("max_instances"), "{}", d.reason());
        assert_eq!(s.last_action, None, "a hold starts no cooldown");
    }

    #[test]
    fn nothing_happens_within_the_cooldown() {
        let mut s = scaler();
        let hot = fleet(vec![instance(1, 10, 10)], 0);
        assert!(matches!(
            s.evaluate(&hot, at(0)),
            ScaleDecision::ScaleOut { .. }
        ));
        let d = s.evaluate(&hot, at(59));
        assert!(matches!(d, ScaleDecision::Hold { .. }), "{d:?}");
        assert!(d.reason().contains("cooling down"), "{}", d.reason());
        assert!(matches!(
            s.evaluate(&hot, at(60)),
            ScaleDecision::ScaleOut { .. }
        ));
    }

    #[test]
    fn a_restored_autoscaler_keeps_the_cooldown_of_the_last_action() {
        let mut s = scaler().with_last_action(Some(at(100)));
        let d = s.evaluate(&fleet(vec![instance(1, 10, 10)], 0), at(120));
        assert!(matches!(d, ScaleDecision::Hold { .. }), "{d:?}");
    }

    #[test]
    fn low_utilisation_drains_the_least_loaded_newest_instance() {
        let mut s = scaler();
        let instances = vec![
            instance(1, 1, 10),
            instance(2, 0, 10),
            instance(3, 0, 10),
            instance(4, 2, 10),
        ];
        let d = s.evaluate(&fleet(instances, 0), T0);
        let newest_idle = InstanceId::from_u128(3);
        assert!(
            matches!(d, ScaleDecision::ScaleIn { drain, .. } if drain == newest_idle),
            "{d:?}"
        );
    }

    #[test]
    fn ties_in_load_and_registration_go_to_the_smallest_id() {
        let mut a = instance(9, 0, 10);
        let mut b = instance(4, 0, 10);
        a.registered_at = T0;
        b.registered_at = T0;
        let mut s = scaler();
        let d = s.evaluate(&fleet(vec![a, b, instance(1, 1, 10)], 0), at(500));
        let smallest = InstanceId::from_u128(4);
        assert!(
            matches!(d, ScaleDecision::ScaleIn { drain, .. } if drain == smallest),
            "{d:?}"
        );
    }

    #[test]
    fn scale_in_never_drains_an_unhealthy_or_draining_instance() {
        let mut sick = instance(1, 0, 10);
        sick.health = InstanceHealth::Unhealthy;
        let mut leaving = instance(2, 0, 10);
        leaving.draining = true;
        let mut s = scaler();
        let d = s.evaluate(
            &fleet(
                vec![sick, leaving, instance(3, 1, 10), instance(4, 2, 10)],
                0,
            ),
            T0,
        );
        let least_loaded_healthy = InstanceId::from_u128(3);
        assert!(
            matches!(d, ScaleDecision::ScaleIn { drain, .. } if drain == least_loaded_healthy),
            "{d:?}"
        );
    }

    #[test]
    fn scale_in_stops_at_min_instances() {
        let mut s = scaler();
        let d = s.evaluate(&fleet(vec![instance(1, 0, 10)], 0), T0);
        assert!(matches!(d, ScaleDecision::Hold { .. }), "{d:?}");
        assert!(d.reason().contains("min_instances"), "{}", d.reason());
    }

    #[test]
    fn scale_in_waits_while_the_queue_needs_the_instance() {
        let mut s = scaler();
        let d = s.evaluate(&fleet(vec![instance(1, 0, 10), instance(2, 0, 10)], 60), T0);
        assert!(matches!(d, ScaleDecision::Hold { .. }), "{d:?}");
        assert!(d.reason().contains("queue depth"), "{}", d.reason());
    }

    #[test]
    fn scale_in_does_not_flap_into_a_scale_out() {
        // 5 of 20 slots busy is 25%, below 30%; but draining the idle 14-slot instance would
        // leave 5 of 6 busy, 83%, which would scale out again: hold.
        let mut s = scaler();
        let d = s.evaluate(&fleet(vec![instance(1, 0, 14), instance(2, 5, 6)], 0), T0);
        assert!(matches!(d, ScaleDecision::Hold { .. }), "{d:?}");
    }

    fn health() -> impl Strategy<Value = InstanceHealth> {
        prop_oneof![
            Just(InstanceHealth::Unknown),
            Just(InstanceHealth::Healthy),
            Just(InstanceHealth::Healthy),
            Just(InstanceHealth::Degraded),
            Just(InstanceHealth::Unhealthy),
        ]
    }

    fn fleet_strategy() -> impl Strategy<Value = FleetSnapshot> {
        let one = (
            health(),
            0..25u32,
            1..20u32,
            proptest::bool::weighted(0.15),
            0..100u64,
        );
        (proptest::collection::vec(one, 0..14), 0..1_000u64).prop_map(|(specs, queue_depth)| {
            let instances = specs
                .into_iter()
                .enumerate()
                .map(|(n, (health, load, max, draining, reg))| {
                    let mut i = instance(n as u128 + 1, load, max);
                    i.health = health;
                    i.draining = draining;
                    i.registered_at = at(reg);
                    i
                })
                .collect();
            FleetSnapshot {
                instances,
                queue_depth,
            }
        })
    }

    fn config_strategy() -> impl Strategy<Value = AutoscaleConfig> {
        (
            0..5u32,
            0..8u32,
            0.05..0.5f64,
            0.5..=1.0f64,
            1..100u64,
            0..300u64,
        )
            .prop_map(
                |(min, extra, scale_in, scale_out, per, cooldown)| AutoscaleConfig {
                    min_instances: min,
                    max_instances: (min + extra).max(1),
                    scale_out_utilisation: scale_out,
                    scale_in_utilisation: scale_in,
                    queue_depth_per_instance: per,
                    cooldown: Duration::from_secs(cooldown),
                    enabled: true,
                },
            )
    }

    proptest! {
        #[test]
        fn decisions_stay_within_bounds_and_respect_the_cooldown(
            config in config_strategy(),
            rounds in proptest::collection::vec((fleet_strategy(), 0..120u64), 1..12),
        ) {
            prop_assert!(config.validate().is_ok());
            let mut s = Autoscaler::new(config.clone());
            let mut now = T0;
            let mut last_action: Option<OffsetDateTime> = None;
            for (fleet, after_secs) in &rounds {
                now += Duration::from_secs(*after_secs);
                let active = fleet.instances.iter().filter(|i| !i.draining).count() as u32;
                let healthy = fleet.instances.iter().filter(|i| i.accepts_work()).count() as u64;
                let decision = s.evaluate(fleet, now);
                if !matches!(decision, ScaleDecision::Hold { .. }) {
                    if let Some(last) = last_action {
                        prop_assert!(now >= last + config.cooldown, "acted within cooldown");
                    }
                    last_action = Some(now);
                }
                match decision {
                    ScaleDecision::ScaleOut { count, .. } => {
                        prop_assert!(count >= 1);
                        prop_assert!(active + count <= config.max_instances);
                    }
                    ScaleDecision::ScaleIn { drain, .. } => {
                        prop_assert!(active > config.min_instances, "would go below min");
                        prop_assert!(
                            fleet.queue_depth
                                <= config.queue_depth_per_instance * (healthy - 1)
                        );
                        let chosen = fleet.instances.iter().find(|i| i.id == drain);
                        prop_assert!(chosen.is_some_and(Instance::accepts_work));
                    }
                    ScaleDecision::Hold { .. } => {}
                }
                prop_assert_eq!(s.last_action, last_action);
            }
        }
    }
}
