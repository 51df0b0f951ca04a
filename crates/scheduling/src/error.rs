//! The crate's one error type.

use godel_types::AgentId;

/// What can go wrong in scheduling bookkeeping and configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulingError {
    /// The agent has no entry in the [`LoadLedger`](crate::LoadLedger).
    #[error("agent {agent} is not in the load ledger")]
    UnknownAgent {
        /// The agent asked about.
        agent: AgentId,
    },
    /// An assignment to an agent with no free slot.
    #[error("agent {agent} is full: {load} of {capacity} slots in use")]
    AgentFull {
        /// The agent that is full.
        agent: AgentId,
        /// Tasks it runs now.
        load: u32,
        /// Tasks it may run at once.
        capacity: u32,
    },
    /// A release for an agent whose load is already zero.
    #[error("agent {agent} has no assigned task to release")]
    NothingToRelease {
        /// The agent whose load is zero.
        agent: AgentId,
    },
    /// A configuration value out of its range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, as named in configuration (e.g. `max_utilisation`).
        field: &'static str,
        /// What the value must be.
        reason: &'static str,
    },
}
