//! Runs: accepting a `chat.send` (idempotency, implicit sessions, one active run per session with
//! the others queued, the capacity knob), driving a run's events in the order the real gateway
//! emits them (`chat_send.jsonl`, `tool_run.jsonl`, `fail_401.jsonl`), and aborting.
//!
//! A run is driven by one task that sleeps between steps; every step locks the instance state,
//! checks that the run was not aborted meanwhile, and broadcasts its events. Aborts happen under
//! the same lock in the request handler, so the abort's events precede its `res`, as observed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, watch};

use crate::config::FailureKind;
use crate::frames::{RpcError, new_id, now_ms};
use crate::server::{Control, Instance, stopped};
use crate::state::{Audience, Conns, Outcome, Plan, Run, RunKind, RunPhase, Session, State};

/// The model provider the simulated agents use.
pub(crate) const PROVIDER: &str = "sim";
/// The model the simulated agents use.
pub(crate) const MODEL: &str = "sim-model";

const LS_OUTPUT: &str = "\"AGENTS.md\"\n\"README.md\"\n\"src/\"";

/// What an accepted request asks the connection to do after writing its `res`: start this run.
pub(crate) type StartAfter = Option<String>;

/// Borrowed view of the locked state with one run taken out of the run map, so the run and the
/// rest of the state can be changed together.
pub(crate) struct Cx<'a> {
    run: &'a mut Run,
    conns: &'a Conns,
    sessions: &'a mut HashMap<String, Session>,
    runs: &'a mut HashMap<String, Run>,
}

/// Runs `f` on run `run_id` (if it exists) with the rest of the state.
pub(crate) fn with_run<T>(
    state: &mut State,
    run_id: &str,
    f: impl FnOnce(&mut Cx<'_>) -> T,
) -> Option<T> {
    let State {
        conns,
        sessions,
        runs,
    } = state;
    let mut run = runs.remove(run_id)?;
    let out = f(&mut Cx {
        run: &mut run,
        conns,
        sessions,
        runs,
    });
    runs.insert(run.id.clone(), run);
    Some(out)
}

/// Which optional keys an `agent` event payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `run_status`, `assistant`, `usage`, `item`.
    Plain,
    /// `lifecycle`: adds `sessionId`.
    Lifecycle,
    /// The settling `lifecycle` `model` event: adds `sessionId` and `lane`.
    Lane,
    /// `tool`: adds the `session` summary; only to the starter with cap `tool-events`.
    Tool,
}

fn assistant_message(text: &str, ts: u64) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": ts})
}

impl Cx<'_> {
    fn next_seq(&mut self) -> u64 {
        self.run.seq += 1;
        self.run.seq
    }

    fn agent(&self, seq: u64, stream: &str, data: Value, shape: Shape) {
        let run = &*self.run;
        let now = now_ms();
        let mut p = Map::new();
        p.insert("runId".into(), json!(run.id));
        p.insert("stream".into(), json!(stream));
        p.insert("data".into(), data);
        p.insert("sessionKey".into(), json!(run.session_key));
        p.insert("agentId".into(), json!(run.agent_id));
        p.insert("seq".into(), json!(seq));
        p.insert("ts".into(), json!(now));
        p.insert("isHeartbeat".into(), json!(false));
        if matches!(shape, Shape::Lifecycle | Shape::Lane) {
            p.insert("sessionId".into(), json!(run.session_id));
        }
        if shape == Shape::Lane {
            p.insert("lane".into(), json!("main"));
        }
        let audience = if shape == Shape::Tool {
            let session = self
                .sessions
                .get(&run.session_key)
                .map_or(Value::Null, |s| s.row(now));
            p.insert("session".into(), session);
            Audience::ToolWatcher(run.starter)
        } else {
            Audience::Readers
        };
        self.conns.broadcast("agent", &Value::Object(p), audience);
    }

    fn chat(&self, seq: u64, state: &str, extra: Value) {
        let run = &*self.run;
        let mut p = Map::new();
        p.insert("runId".into(), json!(run.id));
        p.insert("sessionKey".into(), json!(run.session_key));
        p.insert("agentId".into(), json!(run.agent_id));
        p.insert("seq".into(), json!(seq));
        p.insert("state".into(), json!(state));
        if let Value::Object(extra) = extra {
            p.extend(extra);
        }
        self.conns
            .broadcast("chat", &Value::Object(p), Audience::Readers);
    }

    /// A chat event without `agentId` and with `seq: 1`: the queued-run final and the second
    /// error of a failed run.
    fn chat_detached(&self, state: &str, extra: Value) {
        let run = &*self.run;
        let mut p = Map::new();
        p.insert("runId".into(), json!(run.id));
        p.insert("sessionKey".into(), json!(run.session_key));
        p.insert("seq".into(), json!(1));
        p.insert("state".into(), json!(state));
        if let Value::Object(extra) = extra {
            p.extend(extra);
        }
        self.conns
            .broadcast("chat", &Value::Object(p), Audience::Readers);
    }

    fn sessions_changed(&self, phase: &str) {
        let run = &*self.run;
        let status = self.sessions.get(&run.session_key).and_then(|s| s.status);
        self.conns.broadcast(
            "sessions.changed",
            &json!({
                "sessionKey": run.session_key,
                "agentId": run.agent_id,
                "sessionId": run.session_id,
                "phase": phase,
                "runId": run.id,
                "status": status,
                "ts": now_ms(),
            }),
            Audience::Subscribers,
        );
    }

    fn session_message(&mut self, message: Value) {
        let run = &*self.run;
        let seq = self
            .sessions
            .get(&run.session_key)
            .map_or(0, |s| s.messages.len());
        self.conns.broadcast(
            "session.message",
            &json!({
                "sessionKey": run.session_key,
                "agentId": run.agent_id,
                "message": message,
                "messageId": new_id(),
                "messageSeq": seq,
            }),
            Audience::Subscribers,
        );
    }

    fn session_mut(&mut self) -> Option<&mut Session> {
        self.sessions.get_mut(&self.run.session_key)
    }

    /// A `status` phase: chat `status` and agent `run_status` with the same seq.
    fn phase(&mut self, phase: &str) {
        let seq = self.next_seq();
        self.chat(seq, "status", json!({"phase": phase}));
        self.agent(seq, "run_status", json!({"phase": phase}), Shape::Plain);
    }

    fn prepare(&mut self) {
        self.phase("preparing_workspace");
        let user = self
            .sessions
            .get(&self.run.session_key)
            .and_then(|s| s.messages.last().cloned());
        if let Some(user) = user {
            self.session_message(user);
        }
    }

    fn lifecycle_start(&mut self) {
        let now = now_ms();
        self.run.started_at = Some(now);
        let seq = self.next_seq();
        self.agent(
            seq,
            "lifecycle",
            json!({"phase": "start", "startedAt": now}),
            Shape::Lifecycle,
        );
        if let Some(session) = self.session_mut() {
            session.status = Some("running");
            session.started_at = Some(now);
            session.ended_at = None;
            session.updated_at = now;
        }
        self.sessions_changed("start");
    }

    fn lifecycle_model(&mut self) {
        let seq = self.next_seq();
        self.agent(
            seq,
            "lifecycle",
            json!({"phase": "model", "provider": PROVIDER, "model": MODEL}),
            Shape::Lifecycle,
        );
    }

    /// The `model` event with null provider that precedes every run's end.
    fn lifecycle_settle(&mut self) {
        let seq = self.next_seq();
        self.agent(
            seq,
            "lifecycle",
            json!({"phase": "model", "provider": null, "model": null}),
            Shape::Lane,
        );
    }

    fn tool_start(&mut self) {
        let now = now_ms();
        // The real ids look like `call_adb9d91c`: eight random hex digits.
        let call_id = format!("call_{:08x}", uuid::Uuid::now_v7().as_u128() & 0xffff_ffff);
        self.run.tool_call = Some((call_id.clone(), now));
        let seq = self.next_seq();
        self.agent(seq, "usage", json!({"outputTokens": 5}), Shape::Plain);
        let seq = self.next_seq();
        self.agent(
            seq,
            "item",
            json!({
                "itemId": format!("tool:{call_id}"), "toolCallId": call_id, "name": "ls",
                "kind": "tool", "phase": "start", "title": "Ls .", "status": "running",
                "meta": ".", "commandBearing": false, "startedAt": now,
            }),
            Shape::Plain,
        );
        let seq = self.next_seq();
        self.agent(
            seq,
            "tool",
            json!({"phase": "start", "name": "ls", "toolCallId": call_id, "args": {"path": "."}}),
            Shape::Tool,
        );
    }

    fn tool_result(&mut self) {
        let now = now_ms();
        let (call_id, started) = self.run.tool_call.clone().unwrap_or_default();
        let seq = self.next_seq();
        self.agent(
            seq,
            "tool",
            json!({
                "phase": "result", "name": "ls", "toolCallId": call_id, "meta": ".",
                "isError": false, "commandBearing": false,
                "result": {
                    "content": [{"type": "text", "text": LS_OUTPUT}],
                    "details": {"content": LS_OUTPUT},
                },
            }),
            Shape::Tool,
        );
        let seq = self.next_seq();
        self.agent(
            seq,
            "item",
            json!({
                "itemId": format!("tool:{call_id}"), "toolCallId": call_id, "name": "ls",
                "kind": "tool", "phase": "end", "title": "Ls .", "status": "completed",
                "meta": ".", "commandBearing": false, "startedAt": started, "endedAt": now,
            }),
            Shape::Plain,
        );
        self.lifecycle_model();
    }

    /// One assistant delta; the chat `delta` of the last one is held back until after `end`.
    fn delta(&mut self, chunk: &str, last: bool) {
        self.run.streamed.push_str(chunk);
        let seq = self.next_seq();
        self.agent(
            seq,
            "assistant",
            json!({"text": self.run.streamed, "delta": chunk, "itemId": self.run.item_id}),
            Shape::Plain,
        );
        if last {
            self.run.pending_delta = Some(chunk.to_owned());
        } else {
            let message = assistant_message(&self.run.streamed, now_ms());
            self.chat(
                seq,
                "delta",
                json!({"deltaText": chunk, "message": message}),
            );
        }
    }

    /// The successful end: usage, finishing, settle, lifecycle `end`, then the held-back chat
    /// delta and chat `final`.
    fn complete(&mut self) -> StartAfter {
        let now = now_ms();
        let text = self.run.streamed.clone();
        let output_tokens = text.split_whitespace().count() as u64;
        let seq = self.next_seq();
        self.agent(
            seq,
            "usage",
            json!({"outputTokens": output_tokens}),
            Shape::Plain,
        );
        let mut reply = assistant_message(&text, now);
        if let Value::Object(m) = &mut reply {
            m.insert("provider".into(), json!(PROVIDER));
            m.insert("model".into(), json!(MODEL));
            m.insert("stopReason".into(), json!("stop"));
            m.insert(
                "usage".into(),
                json!({"input": 10, "output": output_tokens, "totalTokens": 10 + output_tokens}),
            );
        }
        self.session_message(reply.clone());
        let seq = self.next_seq();
        self.agent(
            seq,
            "lifecycle",
            json!({
                "phase": "finishing", "stopReason": "stop", "aborted": false,
                "livenessState": "working", "endedAt": now,
            }),
            Shape::Lifecycle,
        );
        self.lifecycle_settle();
        let tools: Vec<&str> = if self.run.tool_call.is_some() {
            vec!["ls"]
        } else {
            Vec::new()
        };
        let receipt = json!({
            "runId": self.run.id, "sessionId": self.run.session_id, "turnId": self.run.id,
            "requested": {"provider": PROVIDER, "model": MODEL},
            "effective": {"provider": PROVIDER, "model": MODEL, "responseModel": MODEL},
            "successfulToolNames": tools, "rerouted": false, "terminalDisposition": "visible",
        });
        let end_seq = self.next_seq();
        self.agent(
            end_seq,
            "lifecycle",
            json!({
                "stopReason": "stop", "aborted": false, "livenessState": "working",
                "phase": "end", "endedAt": now, "startedAt": self.run.started_at,
                "replayInvalid": false,
                "terminalReply": {"disposition": "visible", "text": text},
                "terminalReceipt": receipt, "executionSettled": true,
            }),
            Shape::Lifecycle,
        );
        let outcome = Outcome::Ok {
            text: text.clone(),
            ended_at: now,
            receipt,
        };
        if let Some(chunk) = self.run.pending_delta.take() {
            self.chat(
                end_seq,
                "delta",
                json!({"deltaText": chunk, "message": assistant_message(&text, now)}),
            );
        }
        self.chat(
            end_seq,
            "final",
            json!({"stopReason": "stop", "message": assistant_message(&text, now)}),
        );
        if let Some(session) = self.session_mut() {
            session.status = Some("done");
            session.ended_at = Some(now);
            session.updated_at = now;
            session.input_tokens += 10;
            session.output_tokens += output_tokens;
            session.last_run_error = None;
            session.aborted_last_run = false;
            session.messages.push(reply);
        }
        self.sessions_changed("end");
        self.finish(outcome)
    }

    /// A provider failure, as `fail_401.jsonl`: finishing with the error, settle,
    /// `fallback_step`, lifecycle `error`, chat `error`, then a second chat `error` with `seq: 1`
    /// and no `agentId`.
    fn fail(&mut self, kind: FailureKind) -> StartAfter {
        let now = now_ms();
        let (error, reason, detail) = match kind {
            FailureKind::Auth => (
                format!(
                    "⚠️ {PROVIDER}/{MODEL} request failed (authentication failed, HTTP 401). Re-authenticate the provider and try again."
                ),
                "auth",
                "401 simulated upstream error 401",
            ),
            FailureKind::Provider => (
                format!(
                    "⚠️ {PROVIDER}/{MODEL} request failed (upstream error, HTTP 500). Try again later."
                ),
                "unknown",
                "500 simulated upstream failure",
            ),
        };
        let observation = json!({
            "provider": PROVIDER, "model": MODEL, "failoverReason": reason,
            "providerRuntimeFailureKind": "unclassified",
        });
        let seq = self.next_seq();
        self.agent(
            seq,
            "lifecycle",
            json!({
                "phase": "finishing", "error": error, "errorObservation": observation,
                "aborted": false, "livenessState": "blocked", "endedAt": now,
            }),
            Shape::Lifecycle,
        );
        self.lifecycle_settle();
        let seq = self.next_seq();
        self.agent(
            seq,
            "lifecycle",
            json!({
                "phase": "fallback_step", "fallbackStepType": "fallback_step",
                "fallbackStepFromModel": format!("{PROVIDER}/{MODEL}"),
                "fallbackStepFromFailureReason": reason,
                "fallbackStepFromFailureDetail": detail,
                "fallbackStepChainPosition": 1, "fallbackStepFinalOutcome": "chain_exhausted",
            }),
            Shape::Lifecycle,
        );
        let seq = self.next_seq();
        self.agent(
            seq,
            "lifecycle",
            json!({
                "aborted": false, "livenessState": "blocked", "errorObservation": observation,
                "phase": "error", "endedAt": now, "startedAt": self.run.started_at,
                "error": error, "executionSettled": true,
            }),
            Shape::Lifecycle,
        );
        self.chat(
            seq,
            "error",
            json!({"errorMessage": error, "errorDetail": observation}),
        );
        let outcome = Outcome::Failed {
            error: error.clone(),
            started_at: self.run.started_at,
            ended_at: now,
        };
        self.chat_detached(
            "error",
            json!({"errorMessage": format!(
                "⚠️ Agent failed before reply: {error}\nTo view logs, run `openclaw logs --follow` in a terminal."
            )}),
        );
        self.conns
            .broadcast("chat.metadata.changed", &json!({}), Audience::Readers);
        if let Some(session) = self.session_mut() {
            session.status = Some("failed");
            session.ended_at = Some(now);
            session.updated_at = now;
            session.last_run_error = Some(error);
            session.aborted_last_run = false;
        }
        self.sessions_changed("error");
        self.finish(outcome)
    }

    /// Aborts the run (a request handler holds the lock). A queued run gets a bare chat `final`;
    /// a running one gets chat `aborted`, lifecycle `end` (cancelled) and a lifecycle `model`
    /// now, and lifecycle `error` later from its driver. Returns whether it was unfinished.
    fn abort(&mut self) -> bool {
        let now = now_ms();
        match self.run.phase {
            RunPhase::Queued => {
                self.chat_detached("final", json!({}));
                let id = self.run.id.clone();
                if let Some(session) = self.session_mut() {
                    session.queue.retain(|q| *q != id);
                }
                self.run.phase = RunPhase::Ended;
                self.run.end(Outcome::Aborted {
                    started_at: None,
                    ended_at: now,
                });
                true
            }
            RunPhase::Running => {
                let seq = self.next_seq();
                let mut extra = json!({"stopReason": "rpc"});
                if !self.run.streamed.is_empty()
                    && let Value::Object(m) = &mut extra
                {
                    m.insert("message".into(), assistant_message(&self.run.streamed, now));
                }
                self.chat(seq, "aborted", extra);
                let started_at = self.run.started_at.unwrap_or(now);
                self.agent(
                    seq,
                    "lifecycle",
                    json!({
                        "phase": "end", "status": "cancelled", "aborted": true,
                        "stopReason": "rpc", "startedAt": started_at, "endedAt": now,
                    }),
                    Shape::Lifecycle,
                );
                self.lifecycle_model();
                self.run.phase = RunPhase::Aborting;
                self.run.end(Outcome::Aborted {
                    started_at: self.run.started_at,
                    ended_at: now,
                });
                let id = self.run.id.clone();
                if let Some(session) = self.session_mut() {
                    session.status = Some("killed");
                    session.aborted_last_run = true;
                    session.ended_at = Some(now);
                    session.updated_at = now;
                    session.last_run_id = Some(id);
                }
                self.run.abort.notify_one();
                true
            }
            RunPhase::Aborting | RunPhase::Ended => false,
        }
    }

    /// The trailing events of an aborted run: settle, then lifecycle `error`.
    fn settle_abort(&mut self) -> StartAfter {
        if self.run.phase != RunPhase::Aborting {
            return None;
        }
        let now = now_ms();
        self.lifecycle_settle();
        let seq = self.next_seq();
        self.agent(
            seq,
            "lifecycle",
            json!({
                "phase": "error", "endedAt": now, "startedAt": self.run.started_at.unwrap_or(now),
                "error": "This operation was aborted", "aborted": true,
                "stopReason": "aborted", "executionSettled": true,
            }),
            Shape::Lifecycle,
        );
        self.sessions_changed("end");
        self.run.phase = RunPhase::Ended;
        self.release_lane()
    }

    /// Marks the run terminal and frees its session's lane.
    fn finish(&mut self, outcome: Outcome) -> StartAfter {
        self.run.phase = RunPhase::Ended;
        self.run.end(outcome);
        let id = self.run.id.clone();
        if let Some(session) = self.session_mut() {
            session.last_run_id = Some(id);
        }
        self.release_lane()
    }

    /// If this run holds its session's lane, hands the lane to the next queued run.
    fn release_lane(&mut self) -> StartAfter {
        let session = self.sessions.get_mut(&self.run.session_key)?;
        if session.active_run.as_deref() != Some(self.run.id.as_str()) {
            return None;
        }
        session.active_run = None;
        while let Some(next) = session.queue.pop_front() {
            if let Some(run) = self.runs.get_mut(&next)
                && run.phase == RunPhase::Queued
            {
                run.phase = RunPhase::Running;
                session.active_run = Some(next.clone());
                return Some(next);
            }
        }
        None
    }
}

/// Aborts one run under the state lock; true if it was unfinished.
pub(crate) fn abort(state: &mut State, run_id: &str) -> bool {
    with_run(state, run_id, |cx| cx.abort()).unwrap_or(false)
}

/// Splits the reply into at most `n` deltas at word boundaries (spaces lead words, as the real
/// model streams: `"Hello"`, `" from the …"`).
pub(crate) fn split_reply(text: &str, n: u32) -> Vec<String> {
    let mut words: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' && i > start && !text[start..i].trim().is_empty() {
            words.push(&text[start..i]);
            start = i;
        }
    }
    words.push(&text[start..]);
    let n = (n.max(1) as usize).min(words.len());
    let len = words.len();
    (0..n)
        .map(|i| words[i * len / n..(i + 1) * len / n].concat())
        .collect()
}

/// Why a driver stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Aborted,
    /// The run vanished or the instance is stopping.
    Gone,
}

/// Drives one run.
struct Driver {
    instance: Arc<Instance>,
    run_id: String,
    abort: Arc<Notify>,
    control: watch::Receiver<Control>,
}

/// Starts the driver of an accepted run (and maybe the dropped-connection fault).
pub(crate) fn spawn(instance: &Arc<Instance>, run_id: String) {
    let shared = &instance.shared;
    if shared.chance(shared.config.drop_rate) {
        let target = instance
            .lock()
            .runs
            .get(&run_id)
            .map(|r| (r.starter, r.plan.duration));
        if let Some((starter, duration)) = target {
            let delay = shared.random_delay(duration);
            let instance = Arc::clone(instance);
            tokio::spawn(async move {
                let mut control = instance.control.subscribe();
                tokio::select! {
                    () = tokio::time::sleep(delay) => {
                        tracing::debug!(conn = starter, "fault: dropping the run's connection");
                        instance.lock().conns.kick(starter);
                    }
                    _ = stopped(&mut control) => {}
                }
            });
        }
    }
    tokio::spawn(drive(Arc::clone(instance), run_id));
}

async fn drive(instance: Arc<Instance>, run_id: String) {
    let found = instance
        .lock()
        .runs
        .get(&run_id)
        .map(|r| (Arc::clone(&r.abort), r.plan.clone()));
    let Some((abort, plan)) = found else {
        return;
    };
    let control = instance.control.subscribe();
    let mut driver = Driver {
        instance,
        run_id,
        abort,
        control,
    };
    let next = match driver.script(&plan).await {
        Ok(next) => next,
        Err(Stop::Aborted) => driver.abort_tail().await,
        Err(Stop::Gone) => None,
    };
    if let Some(next) = next {
        spawn(&driver.instance, next);
    }
}

impl Driver {
    /// One step under the lock, unless the run was aborted or is gone.
    fn step<T>(&self, f: impl FnOnce(&mut Cx<'_>) -> T) -> Result<T, Stop> {
        let mut state = self.instance.lock();
        with_run(&mut state, &self.run_id, |cx| match cx.run.phase {
            RunPhase::Running => Ok(f(cx)),
            RunPhase::Aborting => Err(Stop::Aborted),
            RunPhase::Queued | RunPhase::Ended => Err(Stop::Gone),
        })
        .unwrap_or(Err(Stop::Gone))
    }

    /// Sleeps; an abort cuts the sleep short (the next step notices it).
    async fn pause(&mut self, duration: Duration) -> Result<(), Stop> {
        tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            () = self.abort.notified() => Ok(()),
            _ = stopped(&mut self.control) => Err(Stop::Gone),
        }
    }

    async fn script(&mut self, plan: &Plan) -> Result<StartAfter, Stop> {
        self.step(|cx| cx.prepare())?;
        self.step(|cx| cx.phase("preparing_context"))?;
        self.step(|cx| cx.lifecycle_start())?;
        self.step(|cx| cx.phase("starting_model"))?;
        self.step(|cx| cx.lifecycle_model())?;
        let config = &self.instance.shared.config;
        let chunks = split_reply(&config.reply_text, config.deltas_per_run);
        let slots = u32::try_from(chunks.len()).unwrap_or(u32::MAX).max(1);
        match plan.kind {
            RunKind::Hang => loop {
                tokio::select! {
                    () = self.abort.notified() => {}
                    _ = stopped(&mut self.control) => return Err(Stop::Gone),
                }
                self.step(|_| ())?;
            },
            RunKind::Fail(kind) => {
                if kind == FailureKind::Provider {
                    self.pause(plan.duration).await?;
                }
                self.step(|cx| cx.fail(kind))
            }
            RunKind::Tool => {
                let gap = plan.duration / slots.saturating_add(1);
                self.step(|cx| cx.tool_start())?;
                self.pause(gap).await?;
                self.step(|cx| cx.tool_result())?;
                self.stream(chunks, gap).await
            }
            RunKind::Normal => self.stream(chunks, plan.duration / slots).await,
        }
    }

    async fn stream(&mut self, chunks: Vec<String>, gap: Duration) -> Result<StartAfter, Stop> {
        let n = chunks.len();
        for (i, chunk) in chunks.iter().enumerate() {
            self.pause(gap).await?;
            self.step(|cx| cx.delta(chunk, i + 1 == n))?;
        }
        self.step(|cx| cx.complete())
    }

    /// After an abort: the real gateway settles the run some milliseconds later.
    async fn abort_tail(&mut self) -> StartAfter {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
            _ = stopped(&mut self.control) => return None,
        }
        let mut state = self.instance.lock();
        with_run(&mut state, &self.run_id, |cx| cx.settle_abort()).flatten()
    }
}

/// The agent a session key belongs to: an existing session's, the `agent:<id>:` prefix, the
/// `agentId` param, or the default agent.
fn resolve_agent(
    instance: &Instance,
    state: &State,
    key: &str,
    hint: Option<&str>,
) -> Result<String, RpcError> {
    if let Some(session) = state.sessions.get(key) {
        return Ok(session.agent_id.clone());
    }
    let config = &instance.shared.config;
    let agents = config.agent_ids();
    let from_key = key
        .strip_prefix("agent:")
        .and_then(|rest| rest.split(':').next());
    match from_key.or(hint) {
        Some(agent) if agents.iter().any(|a| a == agent) => Ok(agent.to_owned()),
        Some(agent) => Err(RpcError::invalid(format!("unknown agent id \"{agent}\""))),
        None => Ok(config.default_agent().to_owned()),
    }
}

/// What a message asks the simulator to do.
fn plan_for(instance: &Instance, message: &str) -> Plan {
    let shared = &instance.shared;
    let config = &shared.config;
    let kind = if message.contains("HANG") {
        RunKind::Hang
    } else if message.contains("HTTP401") {
        RunKind::Fail(FailureKind::Auth)
    } else if message.contains("FAIL") {
        RunKind::Fail(FailureKind::Provider)
    } else if shared.chance(shared.failure_rate()) {
        RunKind::Fail(config.failure_kind)
    } else if message.contains("TOOL") {
        RunKind::Tool
    } else {
        RunKind::Normal
    };
    let duration = if message.contains("SLOW") {
        config.slow_duration
    } else {
        config.run_duration
    };
    Plan { kind, duration }
}

/// A new run in a session (created if needed): active at once if the session is idle, else queued
/// behind the active run. Refused when the agent is at capacity.
pub(crate) fn start_run(
    instance: &Instance,
    state: &mut State,
    starter: u64,
    key: &str,
    agent_hint: Option<&str>,
    message: &str,
    run_id: &str,
) -> Result<StartAfter, RpcError> {
    let agent = resolve_agent(instance, state, key, agent_hint)?;
    let config = &instance.shared.config;
    if let Some(capacity) = config.agent_capacity {
        let busy = state
            .runs
            .values()
            .filter(|r| r.agent_id == agent && r.is_unfinished())
            .count();
        if busy >= capacity as usize {
            let retry_ms = u64::try_from(config.capacity_retry_after.as_millis()).unwrap_or(500);
            return Err(RpcError::unavailable(
                format!("agent \"{agent}\" is at capacity ({capacity} runs); retry later"),
                retry_ms,
            )
            .with_details(
                json!({"code": "AGENT_AT_CAPACITY", "agentId": agent, "capacity": capacity}),
            ));
        }
    }
    let now = now_ms();
    let plan = plan_for(instance, message);
    let session = state
        .sessions
        .entry(key.to_owned())
        .or_insert_with(|| Session::new(key.to_owned(), agent.clone(), now));
    session.updated_at = now;
    session.messages.push(json!({
        "role": "user", "content": message, "timestamp": now,
        "idempotencyKey": format!("{run_id}:user"),
    }));
    let start_now = session.active_run.is_none();
    if start_now {
        session.active_run = Some(run_id.to_owned());
    } else {
        session.queue.push_back(run_id.to_owned());
    }
    let session_id = session.session_id.clone();
    let journal = config
        .journal
        .as_ref()
        .map(|j| j.for_gateway(instance.shared.addr.to_string()));
    state.runs.insert(
        run_id.to_owned(),
        Run {
            id: run_id.to_owned(),
            session_key: key.to_owned(),
            session_id,
            agent_id: agent,
            plan,
            phase: if start_now {
                RunPhase::Running
            } else {
                RunPhase::Queued
            },
            seq: 0,
            streamed: String::new(),
            item_id: format!("{}:1", new_id()),
            pending_delta: None,
            tool_call: None,
            started_at: None,
            starter,
            abort: Arc::new(Notify::new()),
            done: watch::Sender::new(None),
            journal: journal.clone(),
        },
    );
    instance.shared.record_run_start(run_id);
    if let Some(journal) = &journal {
        journal.started(run_id, key, message);
    }
    Ok(start_now.then(|| run_id.to_owned()))
}

/// The `agent.wait` answer for an outcome (`None`: timed out or unknown run).
pub(crate) fn wait_payload(run_id: &str, outcome: Option<&Outcome>) -> Value {
    match outcome {
        None => json!({"runId": run_id, "status": "timeout"}),
        Some(Outcome::Ok {
            text,
            ended_at,
            receipt,
        }) => json!({
            "runId": run_id, "status": "ok", "endedAt": ended_at,
            "terminalReceipt": receipt,
            "terminalReply": {"disposition": "visible", "text": text},
        }),
        Some(Outcome::Failed {
            error,
            started_at,
            ended_at,
        }) => json!({
            "runId": run_id, "status": "error", "startedAt": started_at, "endedAt": ended_at,
            "error": error,
        }),
        Some(Outcome::Aborted {
            started_at,
            ended_at,
        }) => json!({
            "runId": run_id, "status": "error", "startedAt": started_at, "endedAt": ended_at,
            "error": "This operation was aborted", "stopReason": "aborted",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reply;

    #[test]
    fn a_reply_splits_at_words_with_leading_spaces_and_joins_back() {
        let text = "Hello from the simulator.";
        assert_eq!(split_reply(text, 2), vec!["Hello from", " the simulator."]);
        assert_eq!(split_reply(text, 1), vec![text]);
        assert_eq!(split_reply(text, 99).len(), 4);
        assert_eq!(split_reply(text, 3).concat(), text);
        assert_eq!(split_reply("", 3), vec![""]);
        assert_eq!(split_reply("  two  spaces ", 9).concat(), "  two  spaces ");
    }
}
