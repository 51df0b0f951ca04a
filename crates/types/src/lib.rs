//! `godel-types`: the vocabulary every Godel crate shares.
//!
//! What it is: identifiers as validated newtypes (tenant, task, agent, session, instance, team,
//! event, API key, audit entry), capability sets, the state names of sessions, agents and
//! instances, the roles of credentials, and the domain
//! events of the external contract (`task.*`, `agent.*`, `session.*`, `instance.*`, `system.*`)
//! as typed values with a stable JSON form. The queue's [`Priority`], [`TaskStatus`] and
//! [`Clock`] are re-exported rather than redefined, so there is one of each.
//!
//! What it is not: it holds no rules. Which state may follow which lives in `godel-lifecycle`,
//! health thresholds in `godel-federation`; this crate only names things.

mod event;
mod ids;
mod state;

pub use event::{
    AgentEvent, AgentEventKind, Event, EventBody, EventName, InstanceEvent, InstanceEventKind,
    SessionEvent, SessionEventKind, SystemEvent, SystemEventKind, TaskEvent, TaskEventKind,
};
pub use godel_queue::{
    AgentId, Capabilities, Capability, Clock, ManualClock, ParseError, Priority, SystemClock,
    TaskId, TaskStatus, TenantId,
};
pub use ids::{ApiKeyId, AuditId, CheckpointId, EventId, InstanceId, SessionId, TeamId};
pub use state::{AgentStatus, InstanceHealth, Role, SessionState};
