//! Reconciles one run's `agent` and `chat` events into Godel's [`RunEvent`]s, with exactly one
//! terminal event per run.
//!
//! The gateway reports a run twice, and its reports overlap and quirk
//! (`../shared/OPENCLAW.md`, "Quirks to handle"):
//! - progress comes from the `agent` stream (`run_status` → `Status`, lifecycle `start` →
//!   `Started`, `tool` → `Tool`); the `chat` `status` duplicates are ignored;
//! - text comes from whichever source shows it first, `agent` `assistant` deltas or `chat`
//!   deltas, never both (they carry the same text);
//! - the end is the first of `chat` `final`/`aborted`/`error` and `agent` lifecycle
//!   `end`/`error` (a lifecycle event saying `executionSettled: false` is not an end). Whatever
//!   follows is ignored: the lifecycle `error` after the `end` of an aborted run, a last `chat`
//!   delta after lifecycle `end`, the second `chat` `error` (`seq: 1`, no agent) after a
//!   failure;
//! - lifecycle `end` with `aborted: true` or `status: "cancelled"`, and lifecycle `error` with
//!   `aborted: true`, are aborts, not failures.
//!
//! A connection closing is never a failure: the client reports it with [`RunReconciler::lose`]
//! ([`RunEvent::Lost`]) so the caller confirms the end with `agent.wait`.

use godel_lifecycle::{RunEvent, RunFailure};
use serde_json::Value;

use super::events::{AgentEvent, AgentStream, ChatEvent, ChatState, GatewayEvent, LifecycleData};
use super::methods::WaitOutcome;

/// Failure reasons a retry of the same request cannot fix (a bad provider credential, no
/// credit, a malformed request, an unknown model).
const PERMANENT_REASONS: [&str; 5] = [
    "auth",
    "billing",
    "format",
    "model_not_found",
    "invalid_request",
];

/// The state of one run's reconciliation.
#[derive(Debug, Clone, Default)]
pub struct RunReconciler {
    finished: bool,
    started: bool,
    text: Option<TextSource>,
}

/// Where a run's text is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextSource {
    Agent,
    Chat,
}

impl RunReconciler {
    /// A run with no events yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the terminal event was produced: nothing more will be.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The event (if any) an `agent` or `chat` event of this run yields.
    pub fn on_event(&mut self, event: &GatewayEvent) -> Option<RunEvent> {
        match event {
            GatewayEvent::Agent(a) => self.on_agent(a),
            GatewayEvent::Chat(c) => self.on_chat(c),
            _ => None,
        }
    }

    /// The event (if any) an `agent` event yields.
    pub fn on_agent(&mut self, event: &AgentEvent) -> Option<RunEvent> {
        if self.finished {
            return None;
        }
        match &event.stream {
            AgentStream::RunStatus(s) => Some(RunEvent::Status {
                phase: s.phase.clone(),
            }),
            AgentStream::Lifecycle(l) => self.on_lifecycle(l),
            AgentStream::Assistant(a) => {
                let delta = a.delta.as_deref().filter(|d| !d.is_empty())?;
                self.text(TextSource::Agent, delta)
            }
            AgentStream::Tool(t) => Some(RunEvent::Tool {
                name: t.name.clone(),
                phase: t.phase.clone(),
            }),
            AgentStream::Usage(_) | AgentStream::Item(_) | AgentStream::Other { .. } => None,
        }
    }

    /// The event (if any) a `chat` event yields.
    pub fn on_chat(&mut self, event: &ChatEvent) -> Option<RunEvent> {
        if self.finished {
            return None;
        }
        match &event.state {
            ChatState::Status { .. } | ChatState::Other(_) => None,
            ChatState::Delta { text } if text.is_empty() => None,
            ChatState::Delta { text } => self.text(TextSource::Chat, text),
            ChatState::Final { reply, .. } => self.finish(RunEvent::Completed {
                reply: reply.clone(),
            }),
            ChatState::Aborted { .. } => self.finish(RunEvent::Aborted),
            ChatState::Error {
                message,
                kind,
                detail,
            } => {
                let reason = kind.clone().or_else(|| failover_reason(detail.as_ref()));
                self.finish(RunEvent::Failed(failure(message.clone(), reason)))
            }
        }
    }

    /// The event (if any) `agent.wait`'s answer yields: the terminal one unless the run is
    /// still going.
    pub fn on_wait(&mut self, outcome: &WaitOutcome) -> Option<RunEvent> {
        if self.finished {
            return None;
        }
        match outcome {
            WaitOutcome::Running => None,
            WaitOutcome::Completed { reply } => self.finish(RunEvent::Completed {
                reply: reply.clone(),
            }),
            WaitOutcome::Aborted => self.finish(RunEvent::Aborted),
            WaitOutcome::Failed { message, kind } => {
                self.finish(RunEvent::Failed(failure(message.clone(), kind.clone())))
            }
        }
    }

    /// [`RunEvent::Lost`], unless the run already ended.
    pub fn lose(&mut self, reason: &str) -> Option<RunEvent> {
        if self.finished {
            return None;
        }
        self.finish(RunEvent::Lost {
            reason: reason.to_owned(),
        })
    }

    fn on_lifecycle(&mut self, data: &LifecycleData) -> Option<RunEvent> {
        let aborted = data.aborted == Some(true);
        let settled = data.execution_settled != Some(false);
        match data.phase.as_str() {
            "start" if !self.started => {
                self.started = true;
                Some(RunEvent::Started)
            }
            "end" if settled => {
                if aborted || data.status.as_deref() == Some("cancelled") {
                    self.finish(RunEvent::Aborted)
                } else {
                    self.finish(RunEvent::Completed {
                        reply: data.terminal_reply.as_ref().and_then(|t| t.text.clone()),
                    })
                }
            }
            "error" if settled => {
                if aborted {
                    self.finish(RunEvent::Aborted)
                } else {
                    let message = data
                        .error
                        .clone()
                        .unwrap_or_else(|| "the run failed".to_owned());
                    let reason = failover_reason(data.error_observation.as_ref());
                    self.finish(RunEvent::Failed(failure(message, reason)))
                }
            }
            _ => None,
        }
    }

    fn text(&mut self, source: TextSource, delta: &str) -> Option<RunEvent> {
        match self.text {
            Some(chosen) if chosen != source => None,
            _ => {
                self.text = Some(source);
                Some(RunEvent::Delta {
                    text: delta.to_owned(),
                })
            }
        }
    }

    fn finish(&mut self, event: RunEvent) -> Option<RunEvent> {
        self.finished = true;
        Some(event)
    }
}

/// `failoverReason` of an error detail or observation (`auth`, `rate_limit`, ...).
fn failover_reason(detail: Option<&Value>) -> Option<String> {
    detail?
        .get("failoverReason")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A failure; retryable unless its reason is one a retry cannot fix.
fn failure(message: String, kind: Option<String>) -> RunFailure {
    let retryable = !kind
        .as_deref()
        .is_some_and(|k| PERMANENT_REASONS.contains(&k));
    RunFailure {
        message,
        kind,
        retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Frame;
    use crate::protocol::{Event, decode};
    use serde_json::json;

    fn feed(reconciler: &mut RunReconciler, frames: &[Value]) -> Vec<RunEvent> {
        frames
            .iter()
            .filter_map(|f| match decode(&f.to_string()) {
                Ok(Frame::Event(e)) => GatewayEvent::from_event(e).ok(),
                _ => None,
            })
            .filter_map(|e| reconciler.on_event(&e))
            .collect()
    }

    fn agent(stream: &str, data: Value) -> Value {
        json!({"type": "event", "event": "agent", "payload": {"runId": "r", "stream": stream, "data": data}})
    }

    fn chat(payload: Value) -> Value {
        let mut payload = payload;
        payload["runId"] = json!("r");
        json!({"type": "event", "event": "chat", "payload": payload})
    }

    #[test]
    fn a_completed_run_ends_once_despite_the_late_delta() {
        let mut r = RunReconciler::new();
        let events = feed(
            &mut r,
            &[
                agent("run_status", json!({"phase": "preparing_workspace"})),
                chat(json!({"state": "status", "phase": "preparing_workspace"})),
                agent("lifecycle", json!({"phase": "start"})),
                agent("assistant", json!({"delta": "Hel"})),
                chat(json!({"state": "delta", "deltaText": "Hel"})),
                agent("assistant", json!({"delta": "lo"})),
                agent(
                    "lifecycle",
                    json!({"phase": "end", "terminalReply": {"text": "Hello"}}),
                ),
                chat(json!({"state": "delta", "deltaText": "lo"})),
                chat(
                    json!({"state": "final", "message": {"content": [{"type": "text", "text": "Hello"}]}}),
                ),
            ],
        );
        assert_eq!(
            events,
            vec![
                RunEvent::Status {
                    phase: "preparing_workspace".into()
                },
                RunEvent::Started,
                RunEvent::Delta { text: "Hel".into() },
                RunEvent::Delta { text: "lo".into() },
                RunEvent::Completed {
                    reply: Some("Hello".into())
                },
            ]
        );
        assert!(r.is_finished());
        assert_eq!(r.lose("socket closed"), None);
    }

    #[test]
    fn chat_deltas_are_used_when_they_come_first() {
        let mut r = RunReconciler::new();
        let events = feed(
            &mut r,
            &[
                chat(json!({"state": "delta", "deltaText": "a"})),
                agent("assistant", json!({"delta": "a"})),
                chat(json!({"state": "delta", "deltaText": "b"})),
            ],
        );
        assert_eq!(
            events,
            vec![
                RunEvent::Delta { text: "a".into() },
                RunEvent::Delta { text: "b".into() }
            ]
        );
    }

    #[test]
    fn an_abort_is_one_aborted_event() {
        let mut r = RunReconciler::new();
        let events = feed(
            &mut r,
            &[
                agent(
                    "lifecycle",
                    json!({"phase": "end", "status": "cancelled", "aborted": true}),
                ),
                chat(json!({"state": "aborted", "stopReason": "rpc"})),
                agent(
                    "lifecycle",
                    json!({"phase": "error", "aborted": true, "error": "This operation was aborted"}),
                ),
            ],
        );
        assert_eq!(events, vec![RunEvent::Aborted]);
    }

    #[test]
    fn a_provider_failure_is_one_failed_event() {
        let mut r = RunReconciler::new();
        let events = feed(
            &mut r,
            &[
                agent(
                    "lifecycle",
                    json!({"phase": "finishing", "error": "HTTP 401"}),
                ),
                agent(
                    "lifecycle",
                    json!({"phase": "error", "aborted": false, "error": "HTTP 401",
                    "errorObservation": {"failoverReason": "auth"}, "executionSettled": true}),
                ),
                chat(
                    json!({"state": "error", "errorMessage": "HTTP 401", "errorDetail": {"failoverReason": "auth"}}),
                ),
                chat(
                    json!({"state": "error", "seq": 1, "errorMessage": "Agent failed before reply"}),
                ),
            ],
        );
        assert_eq!(
            events,
            vec![RunEvent::Failed(RunFailure {
                message: "HTTP 401".into(),
                kind: Some("auth".into()),
                retryable: false,
            })]
        );
    }

    #[test]
    fn an_unsettled_end_is_not_the_end() {
        let mut r = RunReconciler::new();
        let events = feed(
            &mut r,
            &[agent(
                "lifecycle",
                json!({"phase": "error", "error": "retrying", "executionSettled": false}),
            )],
        );
        assert!(events.is_empty());
        assert!(!r.is_finished());
    }

    #[test]
    fn wait_answers_end_a_run_unless_it_is_still_going() {
        let mut r = RunReconciler::new();
        assert_eq!(r.on_wait(&WaitOutcome::Running), None);
        assert_eq!(
            r.on_wait(&WaitOutcome::Completed { reply: None }),
            Some(RunEvent::Completed { reply: None })
        );
        assert_eq!(r.on_wait(&WaitOutcome::Aborted), None);
        let mut lost = RunReconciler::new();
        assert!(matches!(lost.lose("gone"), Some(RunEvent::Lost { .. })));
        assert_eq!(lost.on_wait(&WaitOutcome::Aborted), None);
    }

    #[test]
    fn transient_failures_are_retryable() {
        let mut r = RunReconciler::new();
        let event = Event {
            event: "chat".into(),
            payload: json!({"runId": "r", "state": "error", "errorMessage": "slow down", "errorKind": "rate_limit"}),
            seq: None,
            state_version: None,
        };
        let events: Vec<_> = GatewayEvent::from_event(event)
            .ok()
            .and_then(|e| r.on_event(&e))
            .into_iter()
            .collect();
        assert!(matches!(events.as_slice(), [RunEvent::Failed(f)] if f.retryable));
    }
}
