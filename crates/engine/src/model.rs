//! What the engine's use cases take and return: submissions, the task as front ends show it,
//! pages.

use std::time::Duration;

use godel_lifecycle::{RunRecord, TaskDetails};
use godel_queue::{Payload, TaskRecord};
use godel_types::{
    AgentId, Capabilities, Capability, Priority, SessionId, TaskId, TaskStatus, TeamId, TenantId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The prefix of the internal capability that binds a task to a session's agent.
pub(crate) const SESSION_CAPABILITY_PREFIX: &str = "session:";

/// The capability only the agent holding `session` (while it is ready) advertises.
pub(crate) fn session_capability(session: SessionId) -> Option<Capability> {
    Capability::parse(&format!("{SESSION_CAPABILITY_PREFIX}{session}")).ok()
}

/// A task to submit (API `POST /tasks`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitTask {
    /// The work: a JSON object with a non-empty `prompt` string, plus any options.
    pub payload: serde_json::Value,
    /// Its priority (default: the parent's, else `medium`).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Not before this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub scheduled_at: Option<OffsetDateTime>,
    /// Attempts before dead letter (1 to 100; default 3).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Capabilities the agent must have.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The session to run in (it must be open and belong to the tenant).
    #[serde(default)]
    pub session_id: Option<SessionId>,
    /// The team it belongs to; tasks of a team reuse the team's sessions.
    #[serde(default)]
    pub team_id: Option<TeamId>,
    /// The task that spawned it.
    #[serde(default)]
    pub parent_id: Option<TaskId>,
    /// Tasks that must complete first.
    #[serde(default)]
    pub depends_on: Vec<TaskId>,
    /// Seconds one run may take (1 to 86 400).
    #[serde(default)]
    pub timeout_s: Option<u64>,
    /// Returns the existing task instead of creating a second one with the same key.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A task as front ends show it: the queue record joined with Godel's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its status.
    pub status: TaskStatus,
    /// Its priority.
    pub priority: Priority,
    /// The work.
    pub payload: Payload,
    /// Capabilities required.
    pub capabilities: Capabilities,
    /// Attempts counted so far.
    pub attempt_count: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The agent holding its lease now (none once the lease ended).
    pub agent_id: Option<AgentId>,
    /// The session it is bound to.
    pub session_id: Option<SessionId>,
    /// Its team.
    pub team_id: Option<TeamId>,
    /// The task that spawned it.
    pub parent_id: Option<TaskId>,
    /// Tasks it waits for.
    pub depends_on: Vec<TaskId>,
    /// Seconds one run may take.
    pub timeout_s: Option<u64>,
    /// A cancel was requested while it ran.
    pub cancel_requested: bool,
    /// The last failure.
    pub last_error: Option<String>,
    /// The result of the run that completed it.
    pub result: Option<Payload>,
    /// Its runs.
    pub runs: Vec<RunRecord>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Due again at (scheduled or retrying).
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    /// First started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Dead-lettered.
    #[serde(with = "time::serde::rfc3339::option")]
    pub dead_lettered_at: Option<OffsetDateTime>,
}

impl Task {
    /// Joins a queue record with its details (`None`: a task enqueued without Godel's details).
    #[must_use]
    pub fn from_parts(record: TaskRecord, details: Option<TaskDetails>) -> Self {
        let capabilities = record
            .capabilities
            .iter()
            .filter(|c| !c.as_str().starts_with(SESSION_CAPABILITY_PREFIX))
            .cloned()
            .collect::<Vec<_>>();
        let (session_id, team_id, timeout_s, runs) = match details {
            Some(d) => (d.session, d.team, d.timeout.map(|t| t.as_secs()), d.runs),
            None => (None, record.group.map(TeamId::from_uuid), None, Vec::new()),
        };
        Self {
            id: record.id,
            tenant_id: record.tenant,
            status: record.status,
            priority: record.priority,
            payload: record.payload,
            capabilities: Capabilities::from(capabilities),
            attempt_count: record.attempt_count,
            max_attempts: record.max_attempts,
            agent_id: record.assignee,
            session_id,
            team_id,
            parent_id: record.parent_id,
            depends_on: record.depends_on.to_vec(),
            timeout_s,
            cancel_requested: record.cancel_requested,
            last_error: record.last_error.map(|e| e.to_string()),
            result: record.result,
            runs,
            created_at: record.created_at,
            updated_at: record.updated_at,
            due_at: record.due_at,
            started_at: record.started_at,
            finished_at: record.finished_at,
            dead_lettered_at: record.dead_lettered_at,
        }
    }

    /// How long one run of this task may take, given the engine's default.
    #[must_use]
    pub fn run_timeout(&self, default: Duration) -> Duration {
        self.timeout_s.map_or(default, Duration::from_secs)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass this back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// How many items match in all.
    pub total: u64,
}

/// Progress of a team: its tasks by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamProgress {
    /// The team.
    pub team_id: TeamId,
    /// Tasks in all.
    pub total: u64,
    /// Completed.
    pub completed: u64,
    /// Running or assigned.
    pub running: u64,
    /// Waiting (pending, blocked, scheduled, failed awaiting retry).
    pub waiting: u64,
    /// Dead-lettered.
    pub dead_lettered: u64,
    /// Cancelled.
    pub cancelled: u64,
}
