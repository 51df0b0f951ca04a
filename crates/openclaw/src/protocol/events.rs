//! Typed events: the run events `agent` and `chat`, and the connection's own (`tick`,
//! `shutdown`, `connect.challenge`). Every operator connection receives the `agent` and `chat`
//! events of every run on the gateway; they are keyed on `runId`.

use serde::Deserialize;
use serde_json::Value;

use super::connect::Challenge;
use super::event_name;
use super::frame::Event;
use crate::error::ProtocolError;

/// An event the client understands.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayEvent {
    /// `connect.challenge`.
    Challenge(Challenge),
    /// `tick`: the connection is alive.
    Tick,
    /// `shutdown`: the gateway is stopping; close 1012 follows.
    Shutdown {
        /// Why, as the gateway says.
        reason: Option<String>,
    },
    /// `agent`: one step of a run.
    Agent(AgentEvent),
    /// `chat`: the chat view of a run.
    Chat(ChatEvent),
    /// Any other event (`health`, `sessions.changed`, `heartbeat`, `cron`, ...).
    Other(String),
}

impl GatewayEvent {
    /// Types an event's payload.
    ///
    /// # Errors
    /// [`ProtocolError::Payload`] when the payload of a known event lacks what Godel reads or
    /// has it with the wrong type; extra fields are ignored.
    pub fn from_event(event: Event) -> Result<Self, ProtocolError> {
        let payload_error =
            |e: serde_json::Error| ProtocolError::Payload(format!("{} event: {e}", event.event));
        Ok(match event.event.as_str() {
            event_name::TICK => Self::Tick,
            event_name::SHUTDOWN => Self::Shutdown {
                reason: event
                    .payload
                    .get("reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            event_name::CONNECT_CHALLENGE => {
                Self::Challenge(Challenge::deserialize(&event.payload).map_err(payload_error)?)
            }
            event_name::AGENT => Self::Agent(AgentEvent::from_payload(event.payload)?),
            event_name::CHAT => Self::Chat(
                RawChat::deserialize(&event.payload)
                    .map_err(payload_error)?
                    .into(),
            ),
            _ => Self::Other(event.event),
        })
    }

    /// The run the event belongs to, for `agent` and `chat`.
    #[must_use]
    pub fn run_id(&self) -> Option<&str> {
        match self {
            Self::Agent(a) => Some(&a.run_id),
            Self::Chat(c) => Some(&c.run_id),
            _ => None,
        }
    }
}

/// `agent {runId, seq, stream, ts, data, sessionKey, agentId}`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEvent {
    /// The run.
    pub run_id: String,
    /// Per-run sequence number.
    pub seq: Option<u64>,
    /// Gateway time, milliseconds since the epoch.
    pub ts: Option<u64>,
    /// The run's session (absent on some lifecycle events).
    pub session_key: Option<String>,
    /// The run's agent.
    pub agent_id: Option<String>,
    /// The stream and its typed data.
    pub stream: AgentStream,
}

/// The streams of `agent` events, with their data.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentStream {
    /// `run_status`: preparation phases and retries.
    RunStatus(RunStatusData),
    /// `lifecycle`: start, model, finishing, end, error, ...
    Lifecycle(LifecycleData),
    /// `assistant`: text increments.
    Assistant(AssistantData),
    /// `usage`: token counts.
    Usage(Value),
    /// `item`: items of the transcript (tool items duplicate the `tool` stream).
    Item(Value),
    /// `tool`: a tool call started or returned (only to the connection that started the run,
    /// with cap `tool-events`).
    Tool(ToolData),
    /// A stream Godel does not know.
    Other {
        /// Its name.
        stream: String,
        /// Its data.
        data: Value,
    },
}

/// Data of a `run_status` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunStatusData {
    /// `preparing_workspace`, `preparing_context`, `starting_model`, `retrying`, ...
    pub phase: String,
}

/// Data of a `lifecycle` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleData {
    /// `start`, `model`, `finishing`, `fallback_step`, `end`, `error`, ...
    pub phase: String,
    /// Whether the run was aborted.
    #[serde(default)]
    pub aborted: Option<bool>,
    /// `cancelled` on the `end` of an aborted run.
    #[serde(default)]
    pub status: Option<String>,
    /// The error of an `error` (or failing `finishing`) phase.
    #[serde(default)]
    pub error: Option<String>,
    /// Why the model stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The final reply on `end`.
    #[serde(default)]
    pub terminal_reply: Option<TerminalReply>,
    /// `false` when more execution may follow this event.
    #[serde(default)]
    pub execution_settled: Option<bool>,
    /// The provider failure behind an error (`failoverReason`, ...).
    #[serde(default)]
    pub error_observation: Option<Value>,
}

/// `terminalReply` of a lifecycle `end` or of `agent.wait`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TerminalReply {
    /// The reply text.
    #[serde(default)]
    pub text: Option<String>,
    /// `visible`, ...
    #[serde(default)]
    pub disposition: Option<String>,
}

/// Data of an `assistant` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AssistantData {
    /// The new text.
    #[serde(default)]
    pub delta: Option<String>,
    /// The text so far.
    #[serde(default)]
    pub text: Option<String>,
}

/// Data of a `tool` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolData {
    /// `start` or `result`.
    pub phase: String,
    /// The tool's name.
    pub name: String,
    /// The call's id.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Whether the result is an error.
    #[serde(default)]
    pub is_error: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAgent {
    run_id: String,
    stream: String,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    ts: Option<u64>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
}

impl AgentEvent {
    fn from_payload(payload: Value) -> Result<Self, ProtocolError> {
        let raw = RawAgent::deserialize(&payload)
            .map_err(|e| ProtocolError::Payload(format!("agent event: {e}")))?;
        let typed = |e: serde_json::Error| {
            ProtocolError::Payload(format!("agent event, {} stream: {e}", raw.stream))
        };
        let stream = match raw.stream.as_str() {
            "run_status" => {
                AgentStream::RunStatus(RunStatusData::deserialize(&raw.data).map_err(typed)?)
            }
            "lifecycle" => {
                AgentStream::Lifecycle(LifecycleData::deserialize(&raw.data).map_err(typed)?)
            }
            "assistant" => {
                AgentStream::Assistant(AssistantData::deserialize(&raw.data).map_err(typed)?)
            }
            "tool" => AgentStream::Tool(ToolData::deserialize(&raw.data).map_err(typed)?),
            "usage" => AgentStream::Usage(raw.data),
            "item" => AgentStream::Item(raw.data),
            _ => AgentStream::Other {
                stream: raw.stream.clone(),
                data: raw.data,
            },
        };
        Ok(Self {
            run_id: raw.run_id,
            seq: raw.seq,
            ts: raw.ts,
            session_key: raw.session_key,
            agent_id: raw.agent_id,
            stream,
        })
    }
}

/// `chat {runId, sessionKey, seq, state, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatEvent {
    /// The run.
    pub run_id: String,
    /// Its session.
    pub session_key: Option<String>,
    /// Per-run sequence number (a late duplicate error comes with `seq: 1`).
    pub seq: Option<u64>,
    /// Its agent (absent on the late duplicate error).
    pub agent_id: Option<String>,
    /// What happened.
    pub state: ChatState,
}

/// `chat.state` with its fields.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatState {
    /// `status` with a phase.
    Status {
        /// The phase.
        phase: Option<String>,
    },
    /// `delta`: new text (`deltaText`).
    Delta {
        /// The new text.
        text: String,
    },
    /// `final`: the run finished.
    Final {
        /// The final message's text.
        reply: Option<String>,
        /// Why the model stopped.
        stop_reason: Option<String>,
    },
    /// `aborted`.
    Aborted {
        /// Why (`rpc` for an abort request).
        stop_reason: Option<String>,
    },
    /// `error`.
    Error {
        /// `errorMessage`.
        message: String,
        /// `errorKind`.
        kind: Option<String>,
        /// `errorDetail` (`provider`, `failoverReason`, ...).
        detail: Option<Value>,
    },
    /// A state Godel does not know.
    Other(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawChat {
    run_id: String,
    state: String,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    delta_text: Option<String>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    error_kind: Option<String>,
    #[serde(default)]
    error_detail: Option<Value>,
}

impl From<RawChat> for ChatEvent {
    fn from(raw: RawChat) -> Self {
        let state = match raw.state.as_str() {
            "status" => ChatState::Status { phase: raw.phase },
            "delta" => ChatState::Delta {
                text: raw.delta_text.unwrap_or_default(),
            },
            "final" => ChatState::Final {
                reply: raw.message.as_ref().and_then(message_text),
                stop_reason: raw.stop_reason,
            },
            "aborted" => ChatState::Aborted {
                stop_reason: raw.stop_reason,
            },
            "error" => ChatState::Error {
                message: raw
                    .error_message
                    .unwrap_or_else(|| "the run failed".to_owned()),
                kind: raw.error_kind,
                detail: raw.error_detail,
            },
            _ => ChatState::Other(raw.state),
        };
        Self {
            run_id: raw.run_id,
            session_key: raw.session_key,
            seq: raw.seq,
            agent_id: raw.agent_id,
            state,
        }
    }
}

/// The text of a chat message: `content` as a string, or its `text` parts joined.
#[must_use]
pub fn message_text(message: &Value) -> Option<String> {
    match message.get("content")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let text: String = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!text.is_empty()).then_some(text)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(name: &str, payload: Value) -> Event {
        Event {
            event: name.into(),
            payload,
            seq: None,
            state_version: None,
        }
    }

    #[test]
    fn agent_events_are_typed_by_stream() {
        let ev = GatewayEvent::from_event(event(
            "agent",
            json!({"runId": "r", "stream": "lifecycle", "seq": 18, "ts": 5, "isHeartbeat": false,
                   "data": {"phase": "end", "aborted": false, "terminalReply": {"text": "hi", "disposition": "visible"}}}),
        ));
        match ev {
            Ok(GatewayEvent::Agent(AgentEvent {
                run_id,
                stream: AgentStream::Lifecycle(data),
                ..
            })) => {
                assert_eq!(run_id, "r");
                assert_eq!(data.phase, "end");
                assert_eq!(
                    data.terminal_reply.and_then(|t| t.text).as_deref(),
                    Some("hi")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn chat_events_are_typed_by_state() {
        let ev = GatewayEvent::from_event(event(
            "chat",
            json!({"runId": "r", "seq": 18, "state": "final", "stopReason": "stop",
                   "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " you"}]}}),
        ));
        assert!(matches!(
            ev,
            Ok(GatewayEvent::Chat(ChatEvent { state: ChatState::Final { reply: Some(r), .. }, .. })) if r == "Hello you"
        ));
        let err = GatewayEvent::from_event(event(
            "chat",
            json!({"runId": "r", "seq": 1, "state": "error"}),
        ));
        assert!(matches!(
            err,
            Ok(GatewayEvent::Chat(ChatEvent {
                state: ChatState::Error { .. },
                agent_id: None,
                ..
            }))
        ));
    }

    #[test]
    fn payloads_without_what_godel_reads_are_errors() {
        for (name, payload) in [
            (
                "agent",
                json!({"stream": "lifecycle", "data": {"phase": "end"}}),
            ),
            (
                "agent",
                json!({"runId": "r", "stream": "lifecycle", "data": {}}),
            ),
            (
                "agent",
                json!({"runId": 7, "stream": "assistant", "data": {}}),
            ),
            ("chat", json!({"runId": "r"})),
            ("chat", json!("text")),
            ("connect.challenge", json!({})),
        ] {
            assert!(
                matches!(
                    GatewayEvent::from_event(event(name, payload.clone())),
                    Err(ProtocolError::Payload(_))
                ),
                "accepted {name} {payload}"
            );
        }
    }

    #[test]
    fn unknown_events_and_streams_pass_through() {
        assert!(matches!(
            GatewayEvent::from_event(event("sessions.changed", json!({}))),
            Ok(GatewayEvent::Other(name)) if name == "sessions.changed"
        ));
        assert!(matches!(
            GatewayEvent::from_event(event(
                "agent",
                json!({"runId": "r", "stream": "thinking", "data": 1})
            )),
            Ok(GatewayEvent::Agent(AgentEvent {
                stream: AgentStream::Other { .. },
                ..
            }))
        ));
    }
}
