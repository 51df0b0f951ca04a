//! `godel-scheduling`: where work goes, and how much of it each tenant may have.
//!
//! What it is: the pure placement rules of Godel.
//! - [`Router`] applies a fallback chain of routing [`Strategy`]s (`round-robin`,
//!   `least-loaded`, `capability-match`, `session-affinity`, `geo-aware`) to [`AgentSnapshot`]s
//!   and returns a [`Decision`] for one [`RouteRequest`], or the order in which agents should be
//!   offered work.
//! - [`LoadLedger`] counts tasks per agent between store reads, never wrapping.
//! - [`TenantQuota`] and [`fair_shares`] divide a shared pool between tenants by weighted
//!   max-min fairness; [`check_start`] applies a tenant's hard `max_running`.
//! - [`admit_session`] and [`admit_task`] are the backpressure decisions: refuse new sessions
//!   above a pool utilisation threshold, refuse submissions to a full tenant queue.
//!
//! What it is not: it reads no clock, does no I/O, has no randomness and no async. It does not
//! know where snapshots come from (instance health, circuit breakers and agent states are decided
//! in `godel-federation` and `godel-lifecycle`; the engine folds them into
//! [`AgentSnapshot::available`]), nor which task a chosen agent claims (that is the queue's claim
//! order). Every function is deterministic: same state and same input, same output.
//!
//! ```
//! use godel_scheduling::{AgentSnapshot, RouteRequest, Router, Strategy};
//! use godel_types::{AgentId, InstanceId};
//!
//! let agent = |name: &str, load, n| AgentSnapshot {
//!     load,
//!     ..AgentSnapshot::new(AgentId::parse(name).unwrap(), InstanceId::from_u128(n), 4)
//! };
//! let agents = [agent("busy", 3, 1), agent("idle", 0, 2)];
//! let mut router = Router::new(vec![Strategy::SessionAffinity, Strategy::LeastLoaded]);
//!
//! // A session that lives on `busy` stays there while it has a free slot...
//! let sticky = RouteRequest {
//!     affinity: Some(AgentId::parse("busy").unwrap()),
//!     ..RouteRequest::default()
//! };
//! let decision = router.route(&sticky, &agents).unwrap();
//! assert_eq!(decision.agent.as_str(), "busy");
//! assert_eq!(decision.strategy, Strategy::SessionAffinity);
//!
//! // ...and new work goes to the least loaded agent.
//! let decision = router.route(&RouteRequest::default(), &agents).unwrap();
//! assert_eq!(decision.agent.as_str(), "idle");
//! assert_eq!(decision.instance, InstanceId::from_u128(2));
//! ```

mod agent;
mod backpressure;
mod error;
mod fair_share;
mod ledger;
mod quota;
mod router;
mod strategy;

pub use agent::AgentSnapshot;
pub use backpressure::{Admission, BackpressureConfig, TaskAdmission, admit_session, admit_task};
pub use error::SchedulingError;
pub use fair_share::fair_shares;
pub use ledger::{AgentLoad, LoadLedger};
pub use quota::{QuotaCheck, TenantQuota, check_start};
pub use router::{Decision, RouteRequest, Router};
pub use strategy::Strategy;
