//! Claims: who may claim what ([`Eligibility`]), and what a claim hands out ([`Lease`]).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{Capabilities, LimitKey, TaskId, TenantId};
use crate::task::TaskRecord;

/// Proof of holding a task's current lease: the task and its fencing token.
///
/// Fences grow strictly with every claim in a store, so a token from an earlier attempt never
/// matches the current one; every ack, fail, heartbeat, start and release presents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseToken {
    /// The leased task.
    pub task: TaskId,
    /// The fencing token of this lease.
    pub fence: u64,
}

/// A claimed task: the token to report with, the lease's expiry, and the task itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// Present it on every report about this attempt.
    pub token: LeaseToken,
    /// The lease ends then unless extended by a heartbeat.
    pub expires_at: OffsetDateTime,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// The task as claimed (status `assigned`).
    pub task: TaskRecord,
}

/// What a heartbeat tells the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// The lease's new expiry.
    pub expires_at: OffsetDateTime,
    /// A cancel was asked for: stop the work and report with
    /// [`QueueStore::fail`](crate::QueueStore::fail) or [`QueueStore::release`](crate::QueueStore::release).
    pub cancel_requested: bool,
}

/// What a claimant can run: its capabilities, the keys its own limits count under (its
/// agent and instance keys, say), and optionally the only tenants to serve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eligibility {
    /// The claimant's capabilities; a task is eligible when it requires a subset of them.
    pub capabilities: Capabilities,
    /// Limit keys every task this claimant takes counts under.
    pub keys: Vec<LimitKey>,
    /// When set, only tasks of these tenants are claimed.
    pub tenants: Option<Vec<TenantId>>,
}

impl Eligibility {
    /// Eligible for tasks that require no capability.
    #[must_use]
    pub fn any() -> Self {
        Self::default()
    }

    /// Eligible for tasks that require a subset of `capabilities`.
    #[must_use]
    pub fn with_capabilities(capabilities: Capabilities) -> Self {
        Self {
            capabilities,
            ..Self::default()
        }
    }

    /// Adds a key the claimant's own limits count under.
    #[must_use]
    pub fn with_key(mut self, key: LimitKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Restricts claims to the given tenants.
    #[must_use]
    pub fn only_tenants(mut self, tenants: Vec<TenantId>) -> Self {
        self.tenants = Some(tenants);
        self
    }
}
