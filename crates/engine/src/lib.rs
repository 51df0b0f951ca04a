//! `godel-engine`: Godel's application layer, the code platform teams embed.
//!
//! What it is: the use cases every front end calls ([`TaskService`], [`SessionService`],
//! [`AgentService`], [`InstanceService`]), the orchestrator (a dispatch loop woken by
//! submissions that claims tasks in strict order for agents with free capacity on healthy
//! instances, opens or reuses their sessions, runs them through the `Gateway` port and follows
//! them to completion, retry, dead letter, cancel or timeout), the leader's duties behind the
//! [`LeaderLease`] port, the [`EventBus`] port with an in-process implementation feeding the
//! audit trail, the [`access`] ports (API keys, the security audit log), and graceful shutdown.
//!
//! What it is not: it holds no storage or protocol code. It works on ports only (the queue
//! store, the repositories, the instance store, gateways, the provisioner, the bus, the leader
//! lease), so the adapters that implement them (SQLite, Postgres, Redis, OpenClaw, HTTP) only
//! translate. It depends on tokio for timers and tasks only: no sockets, files or processes.

pub mod access;
mod bus;
mod clock;
pub mod combine;
mod config;
mod engine;
mod error;
mod fleet;
mod leader;
pub mod metrics;
mod model;
mod orchestrator;
mod services;
mod stores;

pub use bus::{BroadcastBus, EventBus};
pub use clock::TokioClock;
pub use config::{DispatchConfig, DutiesConfig, EngineConfig};
pub use engine::{Engine, EngineBuilder, EngineHandle, ShutdownReport};
pub use error::{EngineError, ErrorKind};
pub use leader::{LeaderLease, SingleNode};
pub use model::{Page, SubmitTask, Task, TeamProgress};
pub use services::{
    AgentService, AgentStatusView, CreateSession, InstanceService, RegisterAgent, SessionService,
    Submitted, TaskListQuery, TaskService,
};
pub use stores::Stores;
