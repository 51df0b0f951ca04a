//! `godel-federation`: how Godel runs a fleet of OpenClaw gateway instances.
//!
//! What it is: the model of the instance registry ([`Instance`], [`InstanceSpec`]), the health
//! state machine fed by probes and silence ([`HealthTracker`]), the per-instance
//! [`CircuitBreaker`] every gateway call goes through, the autoscaling policy
//! ([`Autoscaler`]), failover planning ([`plan_failover`]), and the ports the engine keeps
//! instances in and starts them with ([`InstanceStore`], [`Provisioner`]), with an in-memory
//! store ([`MemoryInstanceStore`]). With the `test-util` feature it also exports the
//! conformance suite every `InstanceStore` must pass (`instance_store_conformance!`).
//!
//! What it is not: it does no I/O and runs nothing. It decides; the engine acts. It never reads
//! the system clock (every method that needs the time takes `now`), uses no randomness and no
//! async runtime, so every decision is a deterministic function of its inputs. Probing gateways,
//! calling provisioners, moving tasks and sessions are the engine's and the adapters' work;
//! routing among healthy instances is `godel-scheduling`'s.
//!
//! # Example
//!
//! ```
//! use godel_federation::{HealthConfig, HealthTracker, Instance, InstanceSpec};
//! use godel_types::{InstanceHealth, InstanceId};
//! use std::time::Duration;
//!
//! let now = time::macros::datetime!(2026-01-01 0:00 UTC);
//! let spec = InstanceSpec::new("ws://127.0.0.1:18789", 16);
//! spec.validate()?;
//! let instance = Instance::new(InstanceId::generate(), spec, now);
//! assert!(!instance.accepts_work(), "unknown until a probe succeeds");
//!
//! let mut health = HealthTracker::new(HealthConfig::default(), now);
//! health.on_success(now, false);
//! assert_eq!(health.health(), InstanceHealth::Healthy);
//! // Silent for 17 s: three probes missed past their timeout.
//! let change = health.on_tick(now + Duration::from_secs(17)).expect("a change");
//! assert_eq!(change.to, InstanceHealth::Unhealthy);
//! # Ok::<(), godel_federation::FederationError>(())
//! ```

mod autoscale;
mod breaker;
mod config;
mod error;
mod failover;
mod health;
mod instance;
mod memory;
mod serde_duration;
mod store;

#[cfg(feature = "test-util")]
pub mod conformance;

pub use autoscale::{AutoscaleConfig, Autoscaler, FleetSnapshot, ScaleDecision};
pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use config::FederationConfig;
pub use error::{ErrorKind, FederationError};
pub use failover::{
    Candidate, FailoverPlan, SessionPlacement, plan_failover, plan_failover_requiring,
};
pub use health::{HealthChange, HealthConfig, HealthTracker};
pub use instance::{Instance, InstanceSpec, MAX_ENDPOINT_LEN, endpoint_key};
pub use memory::MemoryInstanceStore;
pub use store::{InstanceStore, ProvisionRequest, ProvisionedInstance, Provisioner};
