//! The use cases front ends call: one service per resource, each a cheap handle on the engine.

pub(crate) mod agents;
pub(crate) mod instances;
pub(crate) mod sessions;
pub(crate) mod tasks;

pub use agents::{AgentService, AgentStatusView, RegisterAgent};
pub use instances::InstanceService;
pub use sessions::{CreateSession, SessionService};
pub use tasks::{Submitted, TaskListQuery, TaskService};
