//! The records the repository ports keep: Godel's view of tasks (beyond the queue), sessions,
//! agents and checkpoints.

use std::collections::BTreeMap;
use std::time::Duration;

use godel_types::{
    AgentId, AgentStatus, Capabilities, CheckpointId, InstanceId, SessionId, SessionState, TaskId,
    TeamId, TenantId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::gateway::{RunId, SessionKey};

/// What Godel keeps about a task beyond its queue record: where it must run and how each of
/// its runs went. The queue's `TaskRecord` holds status, priority, attempts and leases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDetails {
    /// The task.
    pub id: TaskId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The session it must run in (session affinity), if the submitter named one.
    pub session: Option<SessionId>,
    /// The team it belongs to.
    pub team: Option<TeamId>,
    /// How long one run may take before it is aborted and counted as failed.
    #[serde(with = "crate::serde_secs::option")]
    pub timeout: Option<Duration>,
    /// Its runs, oldest first.
    pub runs: Vec<RunRecord>,
}

impl TaskDetails {
    /// Details with no runs yet.
    #[must_use]
    pub fn new(id: TaskId, tenant: TenantId) -> Self {
        Self {
            id,
            tenant,
            session: None,
            team: None,
            timeout: None,
            runs: Vec::new(),
        }
    }
}

/// One run of a task on a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The gateway's run id.
    pub run: RunId,
    /// Which attempt of the task it was (1-based).
    pub attempt: u32,
    /// The agent that ran it.
    pub agent: AgentId,
    /// The instance it ran on.
    pub instance: InstanceId,
    /// The session it ran in.
    pub session: SessionId,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it ended, once it has.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// How it ended, once it has.
    pub outcome: Option<RunOutcome>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunOutcome {
    /// It finished.
    Completed,
    /// It failed.
    Failed {
        /// Why.
        message: String,
    },
    /// It ran past its timeout and was aborted.
    TimedOut,
    /// It was aborted by a cancel.
    Aborted,
    /// Its instance or agent was lost; the task failed over.
    Lost {
        /// Why.
        reason: String,
    },
}

/// How the gateway session should be set up (API `openclaw_config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    /// A named profile on the gateway.
    pub profile: Option<String>,
    /// The workspace folder.
    pub workspace: Option<String>,
    /// Environment variables for the agent.
    pub env_vars: BTreeMap<String, String>,
}

/// One state change in a session's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// The state before.
    pub from: SessionState,
    /// The state after.
    pub to: SessionState,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why, when there is a reason to give.
    pub reason: Option<String>,
}

/// A session: one conversation context on an agent, with the lifecycle of PRD FR-2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session.
    pub id: SessionId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The agent it lives on.
    pub agent: AgentId,
    /// The instance that agent is on.
    pub instance: InstanceId,
    /// The gateway's session key.
    pub key: SessionKey,
    /// The team it serves, if any (tasks of the team reuse it).
    pub team: Option<TeamId>,
    /// Its configuration.
    pub config: SessionConfig,
    /// Its state.
    pub state: SessionState,
    /// The task running in it, when running.
    pub active_task: Option<TaskId>,
    /// When the current state times out, if it can.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deadline: Option<OffsetDateTime>,
    /// The latest checkpoint.
    pub last_checkpoint: Option<CheckpointId>,
    /// Every state change, oldest first.
    pub history: Vec<StateChange>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Bumped by every update; repositories refuse an update from a stale copy.
    pub version: u64,
}

/// An agent: a worker identity on an instance (an OpenClaw agent id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// The agent.
    pub id: AgentId,
    /// The instance it runs on.
    pub instance: InstanceId,
    /// Its id on the gateway, e.g. `main`.
    pub gateway_agent: String,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Tasks it may run at once.
    pub max_capacity: u32,
    /// Its status.
    pub status: AgentStatus,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// When its status last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A saved point of a session, to resume or migrate from (US-020, US-027).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The checkpoint.
    pub id: CheckpointId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The session it saves.
    pub session: SessionId,
    /// A name given by an operator (manual checkpoints), or `None` (automatic).
    pub name: Option<String>,
    /// The session's state when saved.
    pub state: SessionState,
    /// What is needed to restore it (gateway session key, transcript position, ...), opaque here.
    pub data: serde_json::Value,
    /// When it was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
