//! The engine's settings. Defaults follow the PRD; `godel::Settings` fills them from files and
//! the environment.

use std::time::Duration;

use godel_federation::{AutoscaleConfig, BreakerConfig, HealthConfig};
use godel_lifecycle::SessionTimeouts;
use godel_scheduling::{BackpressureConfig, Strategy};

/// Everything the engine can be tuned by.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The dispatch loop.
    pub dispatch: DispatchConfig,
    /// The leader's periodic duties.
    pub duties: DutiesConfig,
    /// Routing strategies, tried in order.
    pub routing: Vec<Strategy>,
    /// When new sessions are refused.
    pub backpressure: BackpressureConfig,
    /// Instance health probing.
    pub health: HealthConfig,
    /// Per-instance circuit breaker.
    pub breaker: BreakerConfig,
    /// Autoscaling (off by default).
    pub autoscale: AutoscaleConfig,
    /// Session state timeouts.
    pub sessions: SessionTimeouts,
    /// How long shutdown lets running tasks finish before returning them to the queue.
    pub shutdown_grace: Duration,
    /// This replica's name (leader lease holder).
    pub replica: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            dispatch: DispatchConfig::default(),
            duties: DutiesConfig::default(),
            routing: vec![Strategy::GeoAware, Strategy::LeastLoaded],
            backpressure: BackpressureConfig::default(),
            health: HealthConfig::default(),
            breaker: BreakerConfig::default(),
            autoscale: AutoscaleConfig::default(),
            sessions: SessionTimeouts::default(),
            shutdown_grace: Duration::from_secs(30),
            replica: "godel-0".into(),
        }
    }
}

/// The dispatch loop.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Wake up at least this often even without a submission (scheduled tasks falling due).
    pub idle_wake: Duration,
    /// How often a running task's lease is extended.
    pub heartbeat_interval: Duration,
    /// How long a run may take when its task names no timeout.
    pub default_run_timeout: Duration,
    /// How long to wait for a run's end with `agent.wait` when its events were lost.
    pub wait_timeout: Duration,
    /// The region runs should preferably go to (geo-aware routing).
    pub region: Option<String>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            idle_wake: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(10),
            default_run_timeout: Duration::from_secs(30 * 60),
            wait_timeout: Duration::from_secs(30),
            region: None,
        }
    }
}

/// The leader's periodic duties.
#[derive(Debug, Clone)]
pub struct DutiesConfig {
    /// Promote due tasks and expire sessions this often.
    pub promote_interval: Duration,
    /// Recover expired leases this often.
    pub reap_interval: Duration,
    /// Purge old dead letters and finished tasks this often.
    pub purge_interval: Duration,
    /// Keep dead letters this long (PRD FR-3: 7 days).
    pub dead_letter_retention: Duration,
    /// Keep completed and cancelled tasks this long.
    pub finished_retention: Duration,
    /// Evaluate the autoscaler this often.
    pub autoscale_interval: Duration,
    /// Leader lease time-to-live; renewed every third of it.
    pub leader_ttl: Duration,
}

impl Default for DutiesConfig {
    fn default() -> Self {
        Self {
            promote_interval: Duration::from_secs(1),
            reap_interval: Duration::from_secs(5),
            purge_interval: Duration::from_secs(3600),
            dead_letter_retention: Duration::from_secs(7 * 24 * 3600),
            finished_retention: Duration::from_secs(7 * 24 * 3600),
            autoscale_interval: Duration::from_secs(30),
            leader_ttl: Duration::from_secs(15),
        }
    }
}
