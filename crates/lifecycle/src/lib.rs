//! `godel-lifecycle`: the lives of sessions and agents, and the ports Godel keeps them behind.
//!
//! What it is:
//! - the session state machine of PRD FR-2 (created → initializing → ready → running →
//!   completing → completed, with failed, cancelled, timeout and error) plus pause, resume,
//!   checkpoint and migrate (US-020, US-027), with per-state timeouts ([`SessionTimeouts`]):
//!   [`SessionRecord::apply`] takes a [`SessionCommand`], returns the [`godel_types::Event`] it
//!   emits, and refuses an illegal one with a [`LifecycleError`] (the transition table is on
//!   [`SessionCommand`]);
//! - agent status (idle, busy, offline, error) and its transitions
//!   ([`AgentRecord::set_status`]);
//! - the repository ports ([`TaskRepository`], [`SessionRepository`], [`AgentRepository`],
//!   [`CheckpointStore`], [`EventLog`]) with in-memory implementations ([`memory`]) and, with
//!   the `test-util` feature, the conformance suites every store adapter runs (`conformance`);
//! - the [`Gateway`] port: what Godel needs from one OpenClaw gateway, shaped after its protocol.
//!
//! What it is not: it does no I/O and bases no decision on a clock (callers pass `now`; only
//! the ids of new events, time-ordered UUIDs, embed the system time); it does not know the
//! queue's storage, the scheduler or the fleet. The engine drives these machines and persists
//! their records.

mod agent;
#[cfg(feature = "test-util")]
pub mod conformance;
mod error;
mod gateway;
pub mod memory;
mod records;
mod repository;
mod serde_secs;
mod session;

pub use error::{ErrorKind, LifecycleError};
pub use gateway::{
    Gateway, GatewayAgent, GatewayConnector, GatewayError, GatewayHealth, GatewaySession,
    GatewaySessionInfo, GatewayTarget, RunEvent, RunEvents, RunFailure, RunHandle, RunId,
    RunRequest, RunWait, SessionKey,
};
pub use records::{
    AgentRecord, Checkpoint, RunOutcome, RunRecord, SessionConfig, SessionRecord, StateChange,
    TaskDetails,
};
pub use repository::{
    AgentRepository, CheckpointStore, EventLog, EventQuery, RepositoryError, SessionFilter,
    SessionRepository, TaskRepository,
};
pub use session::{SessionCommand, SessionTimeouts};
