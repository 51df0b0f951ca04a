//! Parameters and results of the methods Godel calls. Parameters carry only keys the
//! gateway's schema knows (an unknown one closes the socket); results read only what Godel
//! uses.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::events::TerminalReply;

/// Method names.
pub mod method {
    /// The handshake.
    pub const CONNECT: &str = "connect";
    /// Health probe.
    pub const HEALTH: &str = "health";
    /// Start (or re-send) a run in a session.
    pub const CHAT_SEND: &str = "chat.send";
    /// Wait for the end of a run.
    pub const AGENT_WAIT: &str = "agent.wait";
    /// Abort runs of a session (one with `runId`).
    pub const CHAT_ABORT: &str = "chat.abort";
    /// Abort the active run of a session.
    pub const SESSIONS_ABORT: &str = "sessions.abort";
    /// Delete a session.
    pub const SESSIONS_DELETE: &str = "sessions.delete";
    /// List sessions.
    pub const SESSIONS_LIST: &str = "sessions.list";
}

/// `chat.send` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSendParams {
    /// The session (created by the first `chat.send` to it).
    pub session_key: String,
    /// The prompt.
    pub message: String,
    /// Becomes the run id; the same key again never starts a second run.
    pub idempotency_key: String,
    /// The agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// How long the gateway may run it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// `chat.send` result: `{runId, status}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSendResult {
    /// The run id (the idempotency key).
    #[serde(default)]
    pub run_id: Option<String>,
    /// What the gateway did.
    pub status: SendStatus,
    /// How a run that already ended ended (`aborted`, ...).
    #[serde(default)]
    pub summary: Option<String>,
    /// When a run that already ended ended.
    #[serde(default)]
    pub ended_at: Option<u64>,
}

/// `chat.send` status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendStatus {
    /// A new run started (also when the session is busy: it queues).
    Started,
    /// The key is a run still going.
    InFlight,
    /// The key is a run that already ended well.
    Ok,
    /// The key is a run that ended otherwise (observed for an aborted run:
    /// `{status:"timeout", summary:"aborted", stopReason:"rpc", endedAt}`).
    Timeout,
    /// A status Godel does not know.
    #[serde(other)]
    Other,
}

/// `agent.wait` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentWaitParams {
    /// The run.
    pub run_id: String,
    /// How long the gateway may hold the answer.
    pub timeout_ms: u64,
}

/// `agent.wait` result: `{runId, status: ok|timeout|..., endedAt, terminalReply}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentWaitResult {
    /// The run.
    #[serde(default)]
    pub run_id: Option<String>,
    /// `ok`, `timeout`, or an error status.
    pub status: String,
    /// When it ended.
    #[serde(default)]
    pub ended_at: Option<u64>,
    /// Its final reply.
    #[serde(default)]
    pub terminal_reply: Option<TerminalReply>,
    /// The error of a failed run.
    #[serde(default)]
    pub error: Option<Value>,
}

/// What `agent.wait` says about a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// It ended well.
    Completed {
        /// Its final reply.
        reply: Option<String>,
    },
    /// It was aborted.
    Aborted,
    /// It ended badly.
    Failed {
        /// What went wrong.
        message: String,
        /// The status the gateway reported.
        kind: Option<String>,
    },
    /// Still running when the wait ended.
    Running,
}

impl AgentWaitResult {
    /// The outcome. `ok` is a completion and `timeout` a run still going; `aborted`,
    /// `cancelled` and `killed` an abort, and so is `error` with the error `aborted` (what
    /// the real gateway answers for an aborted run); any other status a failure.
    #[must_use]
    pub fn outcome(&self) -> WaitOutcome {
        let aborted_error = matches!(&self.error, Some(Value::String(e)) if e.trim().eq_ignore_ascii_case("aborted"));
        match self.status.as_str() {
            "ok" => WaitOutcome::Completed {
                reply: self.terminal_reply.as_ref().and_then(|t| t.text.clone()),
            },
            "timeout" => WaitOutcome::Running,
            "aborted" | "cancelled" | "killed" => WaitOutcome::Aborted,
            "error" if aborted_error => WaitOutcome::Aborted,
            other => WaitOutcome::Failed {
                message: match &self.error {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v
                        .get("message")
                        .and_then(Value::as_str)
                        .map_or_else(|| v.to_string(), str::to_owned),
                    None => format!("the run ended with status {other}"),
                },
                kind: Some(other.to_owned()),
            },
        }
    }
}

/// The payload of a refused re-send (`chat.send` with the key of a run that already failed):
/// `{runId, status: "error", summary}` alongside an `UNAVAILABLE` error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndedRun {
    /// The run.
    #[serde(default)]
    pub run_id: Option<String>,
    /// How it ended.
    pub status: String,
    /// What happened.
    #[serde(default)]
    pub summary: Option<String>,
}

impl EndedRun {
    /// How the run ended, when the status says it did (`ok` is left out: its reply comes
    /// from `agent.wait`).
    #[must_use]
    pub fn outcome(&self) -> Option<WaitOutcome> {
        match self.status.as_str() {
            "started" | "in_flight" | "accepted" | "ok" | "timeout" => None,
            _ => Some(
                AgentWaitResult {
                    run_id: self.run_id.clone(),
                    status: self.status.clone(),
                    ended_at: None,
                    terminal_reply: None,
                    error: self.summary.clone().map(Value::String),
                }
                .outcome(),
            ),
        }
    }
}

/// `chat.abort` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatAbortParams {
    /// The session.
    pub session_key: String,
    /// The run (all of the session's when absent, queued ones included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// `chat.abort` result: `{ok, aborted, runIds}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatAbortResult {
    /// Whether the request was handled.
    #[serde(default)]
    pub ok: bool,
    /// Whether something was aborted.
    #[serde(default)]
    pub aborted: bool,
    /// The runs aborted.
    #[serde(default)]
    pub run_ids: Vec<String>,
}

/// `sessions.abort` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsAbortParams {
    /// The session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Also drop queued messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clear_queued: Option<bool>,
}

/// `sessions.abort` result: `{ok, abortedRunId, status: aborted|no-active-run}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsAbortResult {
    /// Whether the request was handled.
    #[serde(default)]
    pub ok: bool,
    /// The run aborted.
    #[serde(default)]
    pub aborted_run_id: Option<String>,
    /// `aborted` or `no-active-run`.
    #[serde(default)]
    pub status: Option<String>,
}

impl SessionsAbortResult {
    /// Whether a run was aborted.
    #[must_use]
    pub fn aborted(&self) -> bool {
        self.status.as_deref() == Some("aborted") || self.aborted_run_id.is_some()
    }
}

/// `sessions.delete` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsDeleteParams {
    /// The session.
    pub key: String,
    /// Delete its transcript too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_transcript: Option<bool>,
}

/// `sessions.delete` result: `{ok, key, deleted}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SessionsDeleteResult {
    /// Whether the request was handled.
    #[serde(default)]
    pub ok: bool,
    /// Whether a session was deleted (false: there was none).
    #[serde(default)]
    pub deleted: bool,
}

/// `sessions.list` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsListParams {
    /// Page size.
    pub limit: u32,
    /// Page start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    /// Only sessions with an active run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_only: Option<bool>,
}

/// `sessions.list` result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsListResult {
    /// Sessions on this page.
    #[serde(default)]
    pub sessions: Vec<SessionEntry>,
    /// Whether more pages follow.
    #[serde(default)]
    pub has_more: bool,
    /// Offset of the next page.
    #[serde(default)]
    pub next_offset: Option<u32>,
    /// Sessions in total.
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// One session of `sessions.list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEntry {
    /// Its key.
    pub key: String,
    /// The gateway's session id.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Its agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// `running`, `done`, `failed`, `killed` or none.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether a run is active in it.
    #[serde(default)]
    pub has_active_run: Option<bool>,
}

impl SessionEntry {
    /// Whether a run is active in it (`hasActiveRun`, else `status: running`).
    #[must_use]
    pub fn active(&self) -> bool {
        self.has_active_run
            .unwrap_or(self.status.as_deref() == Some("running"))
    }

    /// Its agent: `agentId`, else the middle of an `agent:<id>:<rest>` key.
    #[must_use]
    pub fn agent(&self) -> String {
        self.agent_id.clone().unwrap_or_else(|| {
            let mut parts = self.key.splitn(3, ':');
            match (parts.next(), parts.next()) {
                (Some("agent"), Some(agent)) => agent.to_owned(),
                _ => String::new(),
            }
        })
    }
}

/// `health` result: `{ok, agents[{agentId, sessions}], sessions, eventLoop{degraded}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthResult {
    /// The gateway says it is fine.
    #[serde(default)]
    pub ok: bool,
    /// Its agents.
    #[serde(default)]
    pub agents: Vec<HealthAgent>,
    /// Sessions in total.
    #[serde(default)]
    pub sessions: Count,
    /// Its event loop.
    #[serde(default)]
    pub event_loop: Option<EventLoop>,
}

impl HealthResult {
    /// Whether the event loop reports being degraded.
    #[must_use]
    pub fn degraded(&self) -> bool {
        self.event_loop.as_ref().is_some_and(|e| e.degraded)
    }
}

/// One agent of `health`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthAgent {
    /// Its id.
    pub agent_id: String,
    /// Its sessions.
    #[serde(default)]
    pub sessions: Count,
}

/// `health.eventLoop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EventLoop {
    /// Overloaded.
    #[serde(default)]
    pub degraded: bool,
}

/// A count the gateway sends either as a number or as an object `{count, ...}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count(pub u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let n = match &value {
            Value::Number(n) => n.as_u64(),
            Value::Object(o) => o.get("count").and_then(Value::as_u64),
            _ => None,
        };
        Ok(Self(n.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chat_send_sends_only_schema_keys() {
        let params = ChatSendParams {
            session_key: "agent:main:godel-1".into(),
            message: "hi".into(),
            idempotency_key: "run-1".into(),
            agent_id: None,
            timeout_ms: Some(5000),
        };
        assert_eq!(
            serde_json::to_value(params).unwrap_or_default(),
            json!({"sessionKey": "agent:main:godel-1", "message": "hi", "idempotencyKey": "run-1", "timeoutMs": 5000})
        );
    }

    #[test]
    fn send_statuses_are_read() {
        for (text, status) in [
            ("started", SendStatus::Started),
            ("in_flight", SendStatus::InFlight),
            ("ok", SendStatus::Ok),
            ("timeout", SendStatus::Timeout),
            ("queued", SendStatus::Other),
        ] {
            let result: Result<ChatSendResult, _> =
                serde_json::from_value(json!({"runId": "r", "status": text}));
            assert_eq!(result.map(|r| r.status).ok(), Some(status));
        }
    }

    #[test]
    fn wait_outcomes() {
        let read = |v: Value| {
            serde_json::from_value::<AgentWaitResult>(v)
                .map(|r| r.outcome())
                .ok()
        };
        assert_eq!(
            read(json!({"runId": "r", "status": "ok", "terminalReply": {"text": "42"}})),
            Some(WaitOutcome::Completed {
                reply: Some("42".into())
            })
        );
        assert_eq!(
            read(json!({"status": "timeout"})),
            Some(WaitOutcome::Running)
        );
        assert_eq!(
            read(json!({"status": "aborted"})),
            Some(WaitOutcome::Aborted)
        );
        assert_eq!(
            read(json!({"status": "error", "error": "aborted"})),
            Some(WaitOutcome::Aborted)
        );
        assert!(matches!(
            read(json!({"status": "error", "error": "boom"})),
            Some(WaitOutcome::Failed { message, .. }) if message == "boom"
        ));
    }

    #[test]
    fn a_refused_resend_tells_how_the_run_ended() {
        let read = |v: Value| {
            serde_json::from_value::<EndedRun>(v)
                .ok()
                .and_then(|r| r.outcome())
        };
        assert!(matches!(
            read(json!({"runId": "r", "status": "error", "summary": "HTTP 401"})),
            Some(WaitOutcome::Failed { message, .. }) if message == "HTTP 401"
        ));
        assert_eq!(read(json!({"runId": "r", "status": "in_flight"})), None);
        assert_eq!(read(json!({"runId": "r", "status": "ok"})), None);
    }

    #[test]
    fn health_counts_are_numbers_or_objects() {
        let health: HealthResult = serde_json::from_value(json!({
            "ok": true,
            "agents": [{"agentId": "main", "sessions": {"count": 3, "recent": []}}],
            "sessions": {"count": 3},
            "eventLoop": {"degraded": true}
        }))
        .unwrap_or_default();
        assert!(health.ok);
        assert!(health.degraded());
        assert_eq!(health.sessions, Count(3));
        assert_eq!(health.agents.first().map(|a| a.sessions), Some(Count(3)));
        let flat: HealthResult =
            serde_json::from_value(json!({"ok": true, "sessions": 2})).unwrap_or_default();
        assert_eq!(flat.sessions, Count(2));
    }

    #[test]
    fn session_entries_know_their_agent_and_activity() {
        let entry: Option<SessionEntry> = serde_json::from_value(json!({
            "key": "agent:ops:godel-1", "status": "running"
        }))
        .ok();
        assert_eq!(
            entry.as_ref().map(SessionEntry::agent).as_deref(),
            Some("ops")
        );
        assert_eq!(entry.as_ref().map(SessionEntry::active), Some(true));
    }
}
