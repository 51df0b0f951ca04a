//! Client-side shapes: request parameters, and answers the engine has no type for (API keys,
//! health, audit, queue depth with its extra counters, WebSocket messages). Answers are
//! tolerant: unknown fields are ignored and missing ones take their default, so a newer server
//! does not break an older client.

use std::collections::BTreeMap;

use godel_engine::Task;
use godel_types::{AgentId, Priority, Role, TaskId, TaskStatus, TeamId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// A listing: the items and, when the server pages it, the cursor of the next page.
/// Decodes from a bare JSON array as well as from `{items, next_cursor, total}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listing<T> {
    /// The items.
    pub items: Vec<T>,
    /// The next page's cursor; `None` on the last page (or when the server does not page).
    pub next_cursor: Option<String>,
    /// How many items match in all (the item count when the server does not say).
    pub total: u64,
}

/// Filters and paging of `GET /tasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskQuery {
    /// Page size (server default 20, max 100).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Sort key: `created_at`, `-created_at`, `priority`, ...
    pub sort: Option<String>,
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// Only tasks of this priority.
    pub priority: Option<Priority>,
    /// Only tasks held by this agent.
    pub agent_id: Option<AgentId>,
    /// Only tasks of this team.
    pub team_id: Option<TeamId>,
}

/// Filters and paging of `GET /dead-letter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterQuery {
    /// Page size.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only dead letters of this priority.
    pub priority: Option<Priority>,
}

/// Which dead letters `POST /dead-letter/replay` puts back in the queue. Empty: all of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayFilter {
    /// Only these tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<TaskId>,
    /// Only this priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Only those dead-lettered before this time.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub before: Option<OffsetDateTime>,
    /// Only those dead-lettered at or after this time.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub after: Option<OffsetDateTime>,
    /// Only those whose last error contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_contains: Option<String>,
}

/// The answer of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayOutcome {
    /// How many tasks were put back in the queue.
    #[serde(alias = "replayed")]
    pub count: u64,
    /// Their ids, when the server lists them.
    pub ids: Vec<TaskId>,
}

/// Where `POST /sessions/{id}/migrate` moves a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrateSession {
    /// The agent to move it to.
    pub agent_id: AgentId,
}

/// A service-account key to create (`POST /api-keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateApiKey {
    /// A label for the key.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// An API key as listed: never the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiKeyInfo {
    /// Its id (what `DELETE /api-keys/{id}` takes).
    pub id: String,
    /// Its label.
    pub name: String,
    /// Its role.
    pub role: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    /// The tenant it acts for.
    #[serde(alias = "tenant")]
    pub tenant_id: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: Option<String>,
    /// When it last authenticated a request.
    pub last_used_at: Option<String>,
    /// When it was revoked; `None` while it works.
    pub revoked_at: Option<String>,
}

/// A freshly created API key: the only time the secret is shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiKeyCreated {
    /// The key's record.
    pub key: ApiKeyInfo,
    /// The secret (`dk_...`); store it now, it cannot be read again.
    pub secret: String,
}

/// One entry of the audit log (`GET /audit`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditRecord {
    /// Its id.
    pub id: String,
    /// When (RFC 3339).
    #[serde(alias = "timestamp")]
    pub at: String,
    /// Who: `key:<id>`, `jwt:<sub>`, `anonymous`.
    pub actor: String,
    /// What, e.g. `api_key.create`.
    pub action: String,
    /// How it ended: `success`, `unauthenticated`, `forbidden`, `failure`.
    pub outcome: String,
    /// What it acted on.
    pub target: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// Anything else recorded.
    pub details: Value,
}

/// `GET /health`: the server's health and its checks (answered with 200 or 503).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// Each dependency's check, by name (`database`, `redis`, `openclaw`).
    pub checks: BTreeMap<String, HealthCheck>,
    /// When it was measured (RFC 3339).
    pub timestamp: Option<String>,
}

/// One check of [`Health`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthCheck {
    /// `healthy`, `degraded`, `unhealthy` (or another word the server uses).
    pub status: String,
    /// How long the probe took.
    pub latency_ms: Option<f64>,
    /// Why it is not healthy.
    pub message: Option<String>,
    /// Gateway instances, for the `openclaw` check (a count or a list, as the server sends it).
    pub instances: Option<Value>,
}

/// `GET /instances/{id}/health`: how one instance is doing. Also decodes from an [`Instance`]
/// answer (its `health`, `load` and `last_heartbeat`).
///
/// [`Instance`]: godel_federation::Instance
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceHealthReport {
    /// The instance.
    #[serde(alias = "instance_id")]
    pub id: Option<String>,
    /// Its endpoint.
    pub endpoint: Option<String>,
    /// `healthy`, `degraded`, `unhealthy`, `unknown`...
    #[serde(alias = "status")]
    pub health: String,
    /// Active runs on it.
    pub load: Option<u64>,
    /// Most sessions it runs at once.
    pub max_sessions: Option<u64>,
    /// Latency of the last probe.
    pub latency_ms: Option<f64>,
    /// When a probe last succeeded (RFC 3339).
    pub last_heartbeat: Option<String>,
    /// Why it is not healthy.
    #[serde(alias = "reason")]
    pub message: Option<String>,
    /// Whether it is draining.
    pub draining: Option<bool>,
}

/// Counts of waiting tasks by priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PriorityCounts {
    /// `critical`.
    pub critical: u64,
    /// `high`.
    pub high: u64,
    /// `medium`.
    pub medium: u64,
    /// `low`.
    pub low: u64,
}

impl PriorityCounts {
    /// All of them.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low
    }

    /// The count at `priority`.
    #[must_use]
    pub fn at(&self, priority: Priority) -> u64 {
        match priority {
            Priority::Critical => self.critical,
            Priority::High => self.high,
            Priority::Medium => self.medium,
            Priority::Low => self.low,
        }
    }
}

/// `GET /queue/depth`: due tasks by priority (by tenant for admins), plus the scheduled,
/// running and dead-lettered counts. Also decodes from the queue's bare `Depth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueDepth {
    /// Due tasks waiting, by priority.
    pub by_priority: PriorityCounts,
    /// The same by tenant (admins only).
    pub by_tenant: BTreeMap<String, PriorityCounts>,
    /// Due tasks in all, when the server says (else the sum of `by_priority`).
    #[serde(alias = "due")]
    pub total: Option<u64>,
    /// Tasks waiting for their scheduled time.
    pub scheduled: Option<u64>,
    /// Tasks assigned or running.
    pub running: Option<u64>,
    /// Dead-lettered tasks.
    #[serde(alias = "dead_lettered")]
    pub dead_letter: Option<u64>,
}

impl QueueDepth {
    /// Due tasks waiting, all priorities.
    #[must_use]
    pub fn due(&self) -> u64 {
        self.total.unwrap_or_else(|| self.by_priority.total())
    }
}

/// One message of the `/events` WebSocket, or one entry of a task's history
/// (`GET /tasks/{id}/events`): `{"event","id","tenant_id","timestamp","data"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    /// The event's name, e.g. `task.completed`.
    pub event: String,
    /// The event's own id.
    pub id: String,
    /// Its tenant; `None` for fleet-wide events.
    pub tenant_id: Option<String>,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// The resource as the REST API shows it, plus event-specific fields.
    pub data: Value,
}

impl EventMessage {
    /// Whether this is a `task.*` event.
    #[must_use]
    pub fn is_task_event(&self) -> bool {
        self.event.starts_with("task.")
    }

    /// The task a `task.*` event is about (`data.id`).
    #[must_use]
    pub fn task_id(&self) -> Option<TaskId> {
        if !self.is_task_event() {
            return None;
        }
        self.data
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| TaskId::parse(s).ok())
    }

    /// The task state a `task.*` event carries (from the full task or the event's summary).
    #[must_use]
    pub fn task_update(&self) -> Option<TaskUpdate> {
        let id = self.task_id()?;
        let status = self
            .data
            .get("status")
            .and_then(|s| serde_json::from_value(s.clone()).ok())?;
        let attempt_count = self
            .data
            .get("attempt_count")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0);
        let text = |field: &str| {
            self.data
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Some(TaskUpdate {
            id,
            status,
            attempt_count,
            message: text("message").or_else(|| text("last_error")),
        })
    }

    /// The full task when `data` is one (as the server sends it for `task.*` events).
    #[must_use]
    pub fn task(&self) -> Option<Task> {
        self.is_task_event()
            .then(|| serde_json::from_value(self.data.clone()).ok())
            .flatten()
    }
}

/// What a `task.*` event says about its task: enough for a progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskUpdate {
    /// The task.
    pub id: TaskId,
    /// Its status after the event.
    pub status: TaskStatus,
    /// Attempts counted so far.
    pub attempt_count: u32,
    /// The event's message or the task's last error.
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_decodes_from_the_queue_shape_and_the_extended_shape() {
        let bare: QueueDepth =
            serde_json::from_str(r#"{"by_priority":[1,0,2,0],"by_tenant":{"acme":[1,0,2,0]}}"#)
                .unwrap();
        assert_eq!(bare.due(), 3);
        assert_eq!(bare.by_tenant["acme"].medium, 2);
        let ext: QueueDepth = serde_json::from_str(
            r#"{"by_priority":{"critical":0,"high":4},"scheduled":2,"running":1,"dead_letter":5}"#,
        )
        .unwrap();
        assert_eq!(
            (ext.due(), ext.scheduled, ext.dead_letter),
            (4, Some(2), Some(5))
        );
    }

    #[test]
    fn task_events_expose_their_task() {
        let id = TaskId::from_u128(7);
        let msg: EventMessage = serde_json::from_value(serde_json::json!({
            "type": "event", "event": "task.failed", "id": "e1", "tenant_id": "acme",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"id": id.to_string(), "status": "failed", "attempt_count": 2, "message": "boom"}
        }))
        .unwrap();
        let update = msg.task_update().unwrap();
        assert_eq!(update.id, id);
        assert_eq!(update.status, TaskStatus::Failed);
        assert_eq!(update.attempt_count, 2);
        assert_eq!(update.message.as_deref(), Some("boom"));
        assert!(msg.task().is_none(), "a summary is not a full task");

        let agent = EventMessage {
            event: "agent.status".into(),
            data: serde_json::json!({"id": id.to_string()}),
            ..EventMessage::default()
        };
        assert_eq!(agent.task_id(), None);
    }

    #[test]
    fn created_keys_carry_their_record_and_secret() {
        let created: ApiKeyCreated = serde_json::from_value(serde_json::json!({
            "key": {"id": "k1", "tenant": "acme", "name": "ci", "role": "developer",
                    "prefix": "dk_live_ab", "created_at": "2026-01-01T00:00:00Z",
                    "last_used_at": null, "revoked_at": null},
            "secret": "dk_live_secret"
        }))
        .unwrap();
        assert_eq!(created.secret, "dk_live_secret");
        assert_eq!(created.key.id, "k1");
        assert_eq!(created.key.tenant_id.as_deref(), Some("acme"));
    }
}
