//! The `Gateway` port: what Godel needs from one OpenClaw gateway, in Godel's words.
//!
//! Shaped after the real protocol (v4, `../shared/OPENCLAW.md`) so the adapter is a translation:
//! `health` is the `health` method, [`Gateway::ensure_session`] opens or reuses a session by its
//! key (a key like `agent:main:godel-<uuid>` is created by the first `chat.send` to it),
//! [`Gateway::start_run`] is `chat.send` with an idempotency key (the gateway's `runId` equals
//! it, so re-sending the same key never starts a second run), the returned [`RunEvents`] follow
//! the `agent`/`chat` events of that run, [`Gateway::wait`] is `agent.wait` (to confirm the end
//! of a run whose events were missed), [`Gateway::abort`] is `chat.abort`, and
//! [`Gateway::list_sessions`] is `sessions.list`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use godel_types::{InstanceId, TaskId};
use serde::{Deserialize, Serialize};

/// One gateway, connected or able to connect on demand. Implementations reconnect by
/// themselves; every method has its own timeout.
#[async_trait]
pub trait Gateway: Send + Sync + fmt::Debug {
    /// Probes the gateway (the `health` method).
    ///
    /// # Errors
    /// [`GatewayError::Unavailable`] when it cannot be reached or is starting up;
    /// [`GatewayError::Unauthorized`] when the credentials are refused.
    async fn health(&self) -> Result<GatewayHealth, GatewayError>;

    /// Makes sure the session `key` exists on agent `agent`, creating it if needed; reusing an
    /// existing key is not an error.
    ///
    /// # Errors
    /// As [`health`](Self::health), plus [`GatewayError::Rejected`] when the gateway refuses.
    async fn ensure_session(
        &self,
        key: &SessionKey,
        agent: &str,
    ) -> Result<GatewaySession, GatewayError>;

    /// Starts a run in a session and follows it. The run's id is the request's idempotency
    /// key: sending the same key again returns the same run and never starts a second one.
    /// The events stream is subscribed before the run is sent, so no event is missed.
    ///
    /// # Errors
    /// As [`ensure_session`](Self::ensure_session).
    async fn start_run(&self, request: RunRequest) -> Result<RunHandle, GatewayError>;

    /// Waits up to `timeout` for the end of a run (`agent.wait`): used when its events were
    /// lost, e.g. across a reconnect.
    ///
    /// # Errors
    /// As [`health`](Self::health); [`GatewayError::NotFound`] for a run the gateway does not know.
    async fn wait(&self, run: &RunId, timeout: Duration) -> Result<RunWait, GatewayError>;

    /// Asks the gateway to stop a run (or, with `None`, whatever runs in the session).
    ///
    /// # Errors
    /// As [`health`](Self::health).
    async fn abort(&self, key: &SessionKey, run: Option<&RunId>) -> Result<bool, GatewayError>;

    /// Deletes a session and its transcript on the gateway.
    ///
    /// # Errors
    /// As [`health`](Self::health).
    async fn close_session(&self, key: &SessionKey) -> Result<(), GatewayError>;

    /// Sessions the gateway holds (up to `limit`).
    ///
    /// # Errors
    /// As [`health`](Self::health).
    async fn list_sessions(&self, limit: u32) -> Result<Vec<GatewaySessionInfo>, GatewayError>;
}

/// Makes [`Gateway`]s for instances: the real adapter opens a WebSocket connection, tests hand
/// out fakes.
#[async_trait]
pub trait GatewayConnector: Send + Sync + fmt::Debug {
    /// A gateway client for `target`. Connecting may be lazy: a client for a gateway that is
    /// down is still returned, and its calls fail with [`GatewayError::Unavailable`].
    ///
    /// # Errors
    /// [`GatewayError::Protocol`] when the target is malformed (e.g. a bad endpoint).
    async fn connect(&self, target: &GatewayTarget) -> Result<Arc<dyn Gateway>, GatewayError>;
}

/// Where a gateway is and how to authenticate to it.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayTarget {
    /// The instance it is.
    pub instance: InstanceId,
    /// Its WebSocket endpoint, e.g. `ws://127.0.0.1:18789`.
    pub endpoint: String,
    /// The shared token, if the gateway requires one.
    pub token: Option<String>,
}

impl fmt::Debug for GatewayTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayTarget")
            .field("instance", &self.instance)
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A gateway session key, e.g. `agent:main:godel-<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionKey(String);

impl SessionKey {
    /// The deterministic key Godel uses for its session `session` on gateway agent `agent`:
    /// reusing it reuses the gateway's session (affinity for free).
    #[must_use]
    pub fn for_session(agent: &str, session: godel_types::SessionId) -> Self {
        Self(format!("agent:{agent}:godel-{session}"))
    }

    /// Wraps a key the gateway reported.
    #[must_use]
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A run's id on the gateway (equal to the idempotency key it was started with).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// The idempotency key of one attempt of a task: `godel-<task>-<fence>`. The lease fence is
    /// unique per claim, so a re-sent request of the same attempt names the same run while a
    /// new attempt (a retry) starts a new one.
    #[must_use]
    pub fn for_attempt(task: TaskId, fence: u64) -> Self {
        Self(format!("godel-{task}-{fence}"))
    }

    /// Wraps a run id the gateway reported.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a health probe reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayHealth {
    /// The gateway says it is fine.
    pub ok: bool,
    /// Its event loop reports being overloaded.
    pub degraded: bool,
    /// Its agents and how many sessions each holds.
    pub agents: Vec<GatewayAgent>,
    /// Sessions in total.
    pub sessions: u32,
}

/// One agent a gateway hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayAgent {
    /// The gateway's agent id, e.g. `main`.
    pub id: String,
    /// Sessions it holds.
    pub sessions: u32,
}

/// A session the gateway confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewaySession {
    /// Its key.
    pub key: SessionKey,
    /// The gateway's own session id, when it reports one.
    pub gateway_id: Option<String>,
    /// Whether the call created it (false: it existed).
    pub created: bool,
}

/// One session as `sessions.list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewaySessionInfo {
    /// Its key.
    pub key: SessionKey,
    /// The agent it belongs to.
    pub agent: String,
    /// Whether a run is active in it.
    pub active: bool,
}

/// A run to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The session to run in.
    pub session: SessionKey,
    /// The gateway agent.
    pub agent: String,
    /// The message (prompt) to send.
    pub message: String,
    /// The idempotency key, which becomes the run id.
    pub run: RunId,
    /// How long the gateway may run it.
    pub timeout: Option<Duration>,
    /// W3C `traceparent` to pass on.
    pub traceparent: Option<String>,
}

/// A started run: its id and its event stream.
pub struct RunHandle {
    /// The run's id.
    pub run: RunId,
    /// Whether the gateway reported the run as already in flight or done (a re-send).
    pub resumed: bool,
    /// Its events, in order.
    pub events: Box<dyn RunEvents>,
}

impl fmt::Debug for RunHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunHandle")
            .field("run", &self.run)
            .field("resumed", &self.resumed)
            .finish_non_exhaustive()
    }
}

/// The events of one run, ending with a terminal one.
#[async_trait]
pub trait RunEvents: Send {
    /// The next event; `None` once the run ended or the stream was lost (after a
    /// [`RunEvent::Lost`]).
    async fn next(&mut self) -> Option<RunEvent>;
}

/// One event of a run, reconciled from the gateway's `agent` and `chat` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunEvent {
    /// The model started working (lifecycle `start`).
    Started,
    /// A phase of preparation or a status note (`run_status`).
    Status {
        /// The phase, e.g. `preparing_workspace`.
        phase: String,
    },
    /// Assistant text produced (an increment).
    Delta {
        /// The new text.
        text: String,
    },
    /// A tool call started or returned.
    Tool {
        /// The tool's name.
        name: String,
        /// `start` or `result`.
        phase: String,
    },
    /// The run finished successfully (terminal).
    Completed {
        /// The final reply, if any.
        reply: Option<String>,
    },
    /// The run failed (terminal).
    Failed(RunFailure),
    /// The run was aborted (terminal).
    Aborted,
    /// The event stream was lost (connection dropped): confirm the end with
    /// [`Gateway::wait`] (terminal for this stream, not for the run).
    Lost {
        /// Why it was lost.
        reason: String,
    },
}

impl RunEvent {
    /// Whether no more events follow on this stream.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Completed { .. } | Self::Failed(_) | Self::Aborted | Self::Lost { .. }
        )
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    /// What went wrong.
    pub message: String,
    /// The gateway's error kind, when it gave one.
    pub kind: Option<String>,
    /// Whether another attempt may succeed.
    pub retryable: bool,
}

/// The answer of [`Gateway::wait`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunWait {
    /// The run ended well, with its final reply.
    Completed {
        /// The final reply, if any.
        reply: Option<String>,
    },
    /// The run ended badly.
    Failed(RunFailure),
    /// Still running when the wait timed out.
    Running,
}

/// A gateway call that failed. Every variant says whether a retry may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// Not reachable, starting up, or the connection dropped.
    #[error("gateway unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// How long the gateway asked to wait (`retryAfterMs`).
        retry_after: Option<Duration>,
    },
    /// The credentials were refused.
    #[error("gateway refused the credentials: {0}")]
    Unauthorized(String),
    /// The gateway refused the request.
    #[error("gateway rejected the request ({code}): {message}")]
    Rejected {
        /// The gateway's error code.
        code: String,
        /// Its message.
        message: String,
        /// Whether it said a retry may succeed.
        retryable: bool,
        /// How long it asked to wait.
        retry_after: Option<Duration>,
    },
    /// The gateway does not know the run or session.
    #[error("not found on the gateway: {0}")]
    NotFound(String),
    /// No answer in time.
    #[error("gateway call timed out: {0}")]
    Timeout(String),
    /// The gateway broke the protocol (a malformed frame, a wrong version).
    #[error("gateway protocol error: {0}")]
    Protocol(String),
}

impl GatewayError {
    /// An [`Unavailable`](Self::Unavailable) error without a retry hint.
    #[must_use]
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
            retry_after: None,
        }
    }

    /// Whether the same call may succeed later.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Timeout(_) => true,
            Self::Rejected { retryable, .. } => *retryable,
            Self::Unauthorized(_) | Self::NotFound(_) | Self::Protocol(_) => false,
        }
    }

    /// How long the gateway asked the caller to wait before retrying.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. } | Self::Rejected { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Whether the gateway itself is in trouble (counts against its circuit breaker), as
    /// opposed to refusing one request.
    #[must_use]
    pub fn is_gateway_fault(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Timeout(_) | Self::Protocol(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_are_deterministic_per_godel_session() {
        let id = godel_types::SessionId::from_u128(1);
        let key = SessionKey::for_session("main", id);
        assert_eq!(key.as_str(), format!("agent:main:godel-{id}"));
        assert_eq!(key, SessionKey::for_session("main", id));
    }

    #[test]
    fn each_claim_of_a_task_gets_its_own_run_id() {
        let task = TaskId::from_u128(9);
        assert_eq!(RunId::for_attempt(task, 3), RunId::for_attempt(task, 3));
        assert_ne!(RunId::for_attempt(task, 3), RunId::for_attempt(task, 4));
    }

    #[test]
    fn errors_say_whether_to_retry_and_whose_fault_it_is() {
        let busy = GatewayError::Rejected {
            code: "UNAVAILABLE".into(),
            message: "starting".into(),
            retryable: true,
            retry_after: Some(Duration::from_millis(500)),
        };
        assert!(busy.is_retryable());
        assert_eq!(busy.retry_after(), Some(Duration::from_millis(500)));
        assert!(!busy.is_gateway_fault());
        assert!(!GatewayError::Unauthorized("token".into()).is_retryable());
        assert!(GatewayError::unavailable("down").is_gateway_fault());
    }

    #[test]
    fn a_target_never_shows_its_token() {
        let target = GatewayTarget {
            instance: InstanceId::from_u128(1),
            endpoint: "ws://127.0.0.1:1".into(),
            token: Some("s3cret".into()),
        };
        assert!(!format!("{target:?}").contains("s3cret"));
    }
}
