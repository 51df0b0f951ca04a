//! [`OpenClawGateway`]: the [`Gateway`] port over one gateway connection.
//!
//! Each port method is one (or, for `ensure_session`, a few) requests to the connection actor,
//! in a `tracing` span with the instance, method and run, carrying a W3C `traceparent`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use godel_lifecycle::{
    Gateway, GatewayAgent, GatewayError, GatewayHealth, GatewaySession, GatewaySessionInfo,
    GatewayTarget, RunFailure, RunHandle, RunId, RunRequest, RunWait, SessionKey,
};
use godel_types::InstanceId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::Instrument;

use super::config::OpenClawConfig;
use super::connection::{Actor, Command, ConnectionStatus, Outgoing};
use super::handshake::Target;
use super::pending::{Answer, Refusal};
use super::{runs, socket, trace};
use crate::error::ProtocolError;
use crate::protocol::{
    AgentWaitParams, AgentWaitResult, ChatAbortParams, ChatAbortResult, ChatSendParams,
    ChatSendResult, EndedRun, HealthResult, SendStatus, SessionsAbortParams, SessionsAbortResult,
    SessionsDeleteParams, SessionsListParams, SessionsListResult, WaitOutcome, method,
};

/// Commands queued to the connection before callers wait.
const COMMAND_BUFFER: usize = 1024;

/// Page size of `sessions.list` when looking for one session.
const LIST_PAGE: u32 = 200;

/// Pages looked through before a session is taken as absent.
const LIST_PAGES_MAX: u32 = 50;

/// A client of one OpenClaw gateway: one WebSocket connection, owned by a background task
/// that reconnects by itself. Share it behind an `Arc`; dropping it (or
/// [`close`](Self::close)) closes the connection and stops the task.
pub struct OpenClawGateway {
    instance: InstanceId,
    endpoint: String,
    config: Arc<OpenClawConfig>,
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<ConnectionStatus>,
}

impl fmt::Debug for OpenClawGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenClawGateway")
            .field("instance", &self.instance)
            .field("endpoint", &self.endpoint)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl OpenClawGateway {
    /// A client for `target`. Returns at once: the connection is opened in the background
    /// (and reopened with backoff), so a gateway that is down still gets a client, whose
    /// calls fail with [`GatewayError::Unavailable`] until it answers.
    ///
    /// # Errors
    /// [`GatewayError::Protocol`] when the endpoint is not a `ws://host:port` URL;
    /// [`GatewayError::Unavailable`] when called outside a Tokio runtime.
    pub fn connect(target: &GatewayTarget, config: OpenClawConfig) -> Result<Self, GatewayError> {
        socket::check_endpoint(&target.endpoint)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| GatewayError::unavailable("no Tokio runtime to run the gateway client"))?;
        let config = Arc::new(config);
        let (commands, receiver) = mpsc::channel(COMMAND_BUFFER);
        let (status_tx, status) = watch::channel(ConnectionStatus::Connecting);
        let actor = Actor::new(
            Arc::clone(&config),
            Arc::new(Target {
                endpoint: target.endpoint.clone(),
                token: target.token.clone(),
            }),
            target.instance.to_string(),
            receiver,
            status_tx,
        );
        let span = tracing::info_span!("openclaw_connection", instance = %target.instance);
        runtime.spawn(actor.run().instrument(span));
        Ok(Self {
            instance: target.instance,
            endpoint: target.endpoint.clone(),
            config,
            commands,
            status,
        })
    }

    /// Closes the connection gracefully and stops the background task. Followed runs end
    /// with [`RunEvent::Lost`](godel_lifecycle::RunEvent::Lost); later calls fail with
    /// [`GatewayError::Unavailable`]. Closing twice is harmless.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close { done }).await.is_ok() {
            let _ = closed.await;
        }
    }

    /// The instance this client talks to.
    #[must_use]
    pub fn instance(&self) -> InstanceId {
        self.instance
    }

    /// What the connection is doing now.
    #[must_use]
    pub fn status(&self) -> ConnectionStatus {
        self.status.borrow().clone()
    }

    /// Follows the connection's status changes.
    #[must_use]
    pub fn watch_status(&self) -> watch::Receiver<ConnectionStatus> {
        self.status.clone()
    }

    /// Calls any gateway method with raw JSON parameters (for methods the port does not
    /// cover, e.g. `status`, `agents.list`), within the request timeout.
    ///
    /// # Errors
    /// As the port's methods: the gateway's error frame mapped to a [`GatewayError`],
    /// [`GatewayError::Timeout`] without an answer in time, [`GatewayError::Unavailable`]
    /// when not connected.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, GatewayError> {
        let span = self.span(method, None);
        self.call(method, params, None, self.config.request_timeout)
            .instrument(span)
            .await
    }

    fn span(&self, method: &str, run: Option<&RunId>) -> tracing::Span {
        tracing::info_span!(
            "gateway_call",
            instance = %self.instance,
            method,
            run = run.map(RunId::as_str),
        )
    }

    /// Sends a request through the connection and waits up to `timeout` for its answer.
    async fn call(
        &self,
        method: &str,
        params: Value,
        traceparent: Option<&str>,
        timeout: Duration,
    ) -> Result<Value, GatewayError> {
        self.call_raw(method, params, traceparent, timeout)
            .await
            .map_err(|refusal| refusal.error)
    }

    /// [`call`](Self::call), keeping the payload the gateway may send along with an error.
    async fn call_raw(
        &self,
        method: &str,
        params: Value,
        traceparent: Option<&str>,
        timeout: Duration,
    ) -> Answer {
        let (reply, answer) = oneshot::channel();
        let outgoing = Outgoing {
            method: method.to_owned(),
            params,
            traceparent: trace::traceparent(traceparent),
            reply,
            deadline: Instant::now() + timeout,
        };
        let exchange = async {
            self.send(Command::Request(outgoing)).await?;
            answer.await.map_err(|_| Refusal::from(closed()))?
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => {
                Err(GatewayError::Timeout(format!("{method}: no answer within {timeout:?}")).into())
            }
        }
    }

    /// [`call`](Self::call) with typed parameters and result.
    async fn call_typed<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: P,
        traceparent: Option<&str>,
        timeout: Duration,
    ) -> Result<R, GatewayError> {
        let params = serde_json::to_value(params)
            .map_err(|e| ProtocolError::Invalid(format!("{method} params: {e}")))?;
        let payload = self.call(method, params, traceparent, timeout).await?;
        serde_json::from_value(payload)
            .map_err(|e| ProtocolError::Payload(format!("{method} result: {e}")).into())
    }

    async fn send(&self, command: Command) -> Result<(), Refusal> {
        self.commands
            .send(command)
            .await
            .map_err(|_| Refusal::from(closed()))
    }

    /// Looks for `key` in `sessions.list`, page by page.
    async fn find_session(
        &self,
        key: &SessionKey,
    ) -> Result<Option<crate::protocol::SessionEntry>, GatewayError> {
        let mut offset = 0u32;
        for _ in 0..LIST_PAGES_MAX {
            let page: SessionsListResult = self
                .call_typed(
                    method::SESSIONS_LIST,
                    SessionsListParams {
                        limit: LIST_PAGE,
                        offset: (offset > 0).then_some(offset),
                        active_only: None,
                    },
                    None,
                    self.config.request_timeout,
                )
                .await?;
            let count = u32::try_from(page.sessions.len()).unwrap_or(u32::MAX);
            if let Some(found) = page.sessions.into_iter().find(|s| s.key == key.as_str()) {
                return Ok(Some(found));
            }
            if !page.has_more || count == 0 {
                return Ok(None);
            }
            offset = page
                .next_offset
                .filter(|next| *next > offset)
                .unwrap_or_else(|| offset.saturating_add(count));
        }
        Ok(None)
    }
}

fn closed() -> GatewayError {
    GatewayError::unavailable("the gateway client is closed")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl Gateway for OpenClawGateway {
    async fn health(&self) -> Result<GatewayHealth, GatewayError> {
        let span = self.span(method::HEALTH, None);
        async {
            let health: HealthResult = self
                .call_typed(method::HEALTH, json!({}), None, self.config.request_timeout)
                .await?;
            Ok(GatewayHealth {
                ok: health.ok,
                degraded: health.degraded(),
                agents: health
                    .agents
                    .iter()
                    .map(|a| GatewayAgent {
                        id: a.agent_id.clone(),
                        sessions: a.sessions.0,
                    })
                    .collect(),
                sessions: health.sessions.0,
            })
        }
        .instrument(span)
        .await
    }

    /// The gateway creates a session implicitly with the first `chat.send` to its key, so
    /// nothing is written here: the key is looked up in `sessions.list`. Found: `created:
    /// false` with the gateway's session id. Absent: `created: true`, and the gateway
    /// creates it with the first run. A key of the form `agent:<id>:...` naming another agent
    /// than `agent` is refused.
    async fn ensure_session(
        &self,
        key: &SessionKey,
        agent: &str,
    ) -> Result<GatewaySession, GatewayError> {
        let span = self.span(method::SESSIONS_LIST, None);
        async {
            let mut parts = key.as_str().splitn(3, ':');
            if let (Some("agent"), Some(owner)) = (parts.next(), parts.next())
                && owner != agent
            {
                return Err(GatewayError::Rejected {
                    code: "INVALID_REQUEST".into(),
                    message: format!("session key {key} belongs to agent {owner}, not {agent}"),
                    retryable: false,
                    retry_after: None,
                });
            }
            Ok(match self.find_session(key).await? {
                Some(found) => GatewaySession {
                    key: key.clone(),
                    gateway_id: found.session_id,
                    created: false,
                },
                None => GatewaySession {
                    key: key.clone(),
                    gateway_id: None,
                    created: true,
                },
            })
        }
        .instrument(span)
        .await
    }

    async fn start_run(&self, request: RunRequest) -> Result<RunHandle, GatewayError> {
        let span = self.span(method::CHAT_SEND, Some(&request.run));
        async {
            let run = request.run.clone();
            let (sink, stream) = runs::channel(self.config.run_buffer);
            // Followed before it is sent: no event of the run can be missed.
            self.send(Command::Follow {
                run: run.clone(),
                session: request.session.clone(),
                sink,
            })
            .await
            .map_err(|r| r.error)?;
            let params = ChatSendParams {
                session_key: request.session.as_str().to_owned(),
                message: request.message,
                idempotency_key: run.as_str().to_owned(),
                agent_id: (!request.agent.is_empty()).then_some(request.agent),
                timeout_ms: request.timeout.map(millis),
            };
            let params = serde_json::to_value(params)
                .map_err(|e| ProtocolError::Invalid(format!("chat.send params: {e}")))?;
            // On error the stream is dropped here and the connection forgets the run.
            let answer = self
                .call_raw(
                    method::CHAT_SEND,
                    params,
                    request.traceparent.as_deref(),
                    self.config.request_timeout,
                )
                .await;
            let resumed = match answer {
                Ok(payload) => {
                    let sent = ChatSendResult::deserialize(&payload)
                        .map_err(|e| ProtocolError::Payload(format!("chat.send result: {e}")))?;
                    if let Some(id) = sent.run_id.as_deref().filter(|id| *id != run.as_str()) {
                        tracing::warn!(run = %run, reported = id, "the gateway reported another run id");
                    }
                    match sent.status {
                        SendStatus::Started => false,
                        SendStatus::InFlight => true,
                        // The key names a run that already ended (`ok`; `timeout` with a
                        // summary for an aborted one) or a status Godel does not know: its
                        // events may be gone, agent.wait tells where it stands.
                        SendStatus::Ok | SendStatus::Timeout | SendStatus::Other => {
                            if sent.status == SendStatus::Other {
                                tracing::warn!(run = %run, "chat.send answered an unknown status");
                            }
                            self.send(Command::Confirm { run: run.clone() })
                                .await
                                .map_err(|r| r.error)?;
                            true
                        }
                    }
                }
                Err(refusal) => {
                    // A re-send of a run that already failed is refused, with how it ended.
                    let ended = refusal
                        .payload
                        .as_ref()
                        .and_then(|p| EndedRun::deserialize(p).ok())
                        .filter(|e| e.run_id.as_deref().is_none_or(|id| id == run.as_str()))
                        .and_then(|e| e.outcome());
                    let Some(outcome) = ended else {
                        return Err(refusal.error);
                    };
                    self.send(Command::Settle {
                        run: run.clone(),
                        outcome,
                    })
                    .await
                    .map_err(|r| r.error)?;
                    true
                }
            };
            Ok(RunHandle {
                run,
                resumed,
                events: Box::new(stream),
            })
        }
        .instrument(span)
        .await
    }

    async fn wait(&self, run: &RunId, timeout: Duration) -> Result<RunWait, GatewayError> {
        let span = self.span(method::AGENT_WAIT, Some(run));
        async {
            let result: AgentWaitResult = self
                .call_typed(
                    method::AGENT_WAIT,
                    AgentWaitParams {
                        run_id: run.as_str().to_owned(),
                        timeout_ms: millis(timeout),
                    },
                    None,
                    timeout.saturating_add(self.config.request_timeout),
                )
                .await?;
            Ok(match result.outcome() {
                WaitOutcome::Completed { reply } => RunWait::Completed { reply },
                WaitOutcome::Running => RunWait::Running,
                WaitOutcome::Aborted => RunWait::Failed(RunFailure {
                    message: "the run was aborted".into(),
                    kind: Some("aborted".into()),
                    retryable: true,
                }),
                WaitOutcome::Failed { message, kind } => RunWait::Failed(RunFailure {
                    message,
                    kind,
                    retryable: true,
                }),
            })
        }
        .instrument(span)
        .await
    }

    /// With a run: `chat.abort {sessionKey, runId}`. Without: `sessions.abort {key,
    /// clearQueued: true}` (the active run and anything queued behind it).
    async fn abort(&self, key: &SessionKey, run: Option<&RunId>) -> Result<bool, GatewayError> {
        match run {
            Some(run) => {
                let span = self.span(method::CHAT_ABORT, Some(run));
                async {
                    let result: ChatAbortResult = self
                        .call_typed(
                            method::CHAT_ABORT,
                            ChatAbortParams {
                                session_key: key.as_str().to_owned(),
                                run_id: Some(run.as_str().to_owned()),
                            },
                            None,
                            self.config.request_timeout,
                        )
                        .await?;
                    Ok(result.aborted)
                }
                .instrument(span)
                .await
            }
            None => {
                let span = self.span(method::SESSIONS_ABORT, None);
                async {
                    let result: SessionsAbortResult = self
                        .call_typed(
                            method::SESSIONS_ABORT,
                            SessionsAbortParams {
                                key: Some(key.as_str().to_owned()),
                                run_id: None,
                                clear_queued: Some(true),
                            },
                            None,
                            self.config.request_timeout,
                        )
                        .await?;
                    Ok(result.aborted())
                }
                .instrument(span)
                .await
            }
        }
    }

    /// `sessions.delete {key, deleteTranscript: true}`; a session already gone is not an
    /// error.
    async fn close_session(&self, key: &SessionKey) -> Result<(), GatewayError> {
        let span = self.span(method::SESSIONS_DELETE, None);
        async {
            let deleted: Result<Value, GatewayError> = self
                .call_typed(
                    method::SESSIONS_DELETE,
                    SessionsDeleteParams {
                        key: key.as_str().to_owned(),
                        delete_transcript: Some(true),
                    },
                    None,
                    self.config.request_timeout,
                )
                .await;
            match deleted {
                Ok(_) | Err(GatewayError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
        .instrument(span)
        .await
    }

    async fn list_sessions(&self, limit: u32) -> Result<Vec<GatewaySessionInfo>, GatewayError> {
        let span = self.span(method::SESSIONS_LIST, None);
        async {
            let page: SessionsListResult = self
                .call_typed(
                    method::SESSIONS_LIST,
                    SessionsListParams {
                        limit,
                        offset: None,
                        active_only: None,
                    },
                    None,
                    self.config.request_timeout,
                )
                .await?;
            Ok(page
                .sessions
                .iter()
                .map(|s| GatewaySessionInfo {
                    key: SessionKey::new(s.key.clone()),
                    agent: s.agent(),
                    active: s.active(),
                })
                .collect())
        }
        .instrument(span)
        .await
    }
}
