//! The mutable state of one running gateway instance: its connections (for broadcasting events),
//! sessions and runs. It lives behind one `std::sync::Mutex` in [`Instance`](crate::server::Instance)
//! that is never held across an `.await`; a restart starts from an empty `State`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};

use crate::config::FailureKind;
use crate::journal::RunJournal;

/// One event queued for one connection; the connection adds its own `seq` when it writes it.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    pub(crate) name: &'static str,
    pub(crate) payload: Arc<str>,
}

/// Which connections an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// Every operator connection with read scope (agent and chat events of every run).
    Readers,
    /// Connections that called `sessions.subscribe` (`sessions.changed`, `session.message`).
    Subscribers,
    /// One connection, if it asked for cap `tool-events` (the `tool` stream of the runs it started).
    ToolWatcher(u64),
}

/// A registered (handshaken) connection, as the broadcaster sees it.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) tx: mpsc::Sender<Outbound>,
    pub(crate) read: bool,
    pub(crate) tool_events: bool,
    pub(crate) subscribed: bool,
    /// Notified to make the connection drop abruptly (no close frame).
    pub(crate) kick: Arc<Notify>,
}

/// The registered connections of an instance.
#[derive(Debug, Default)]
pub(crate) struct Conns {
    map: HashMap<u64, ConnEntry>,
    next_id: u64,
}

impl Conns {
    /// Registers a connection and returns its id.
    pub(crate) fn insert(&mut self, entry: ConnEntry) -> u64 {
        self.next_id += 1;
        self.map.insert(self.next_id, entry);
        self.next_id
    }

    pub(crate) fn remove(&mut self, id: u64) {
        self.map.remove(&id);
    }

    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut ConnEntry> {
        self.map.get_mut(&id)
    }

    /// Drops a connection abruptly (see [`ConnEntry::kick`]).
    pub(crate) fn kick(&self, id: u64) {
        if let Some(conn) = self.map.get(&id) {
            conn.kick.notify_one();
        }
    }

    /// Queues an event for every connection of `audience`. The payload is serialised once. A
    /// connection whose queue is full is a slow consumer and is dropped, as the real gateway drops
    /// clients beyond `maxBufferedBytes`.
    pub(crate) fn broadcast(&self, name: &'static str, payload: &Value, audience: Audience) {
        let payload: Arc<str> = Arc::from(payload.to_string());
        for (id, conn) in &self.map {
            let wanted = match audience {
                Audience::Readers => conn.read,
                Audience::Subscribers => conn.read && conn.subscribed,
                Audience::ToolWatcher(target) => *id == target && conn.read && conn.tool_events,
            };
            if !wanted {
                continue;
            }
            let out = Outbound {
                name,
                payload: Arc::clone(&payload),
            };
            if let Err(mpsc::error::TrySendError::Full(_)) = conn.tx.try_send(out) {
                tracing::warn!(
                    conn = id,
                    event = name,
                    "slow consumer, dropping the connection"
                );
                conn.kick.notify_one();
            }
        }
    }
}

/// What a run does, decided when it is accepted (message triggers, injected failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// Streams the reply and ends with chat `final`.
    Normal,
    /// Calls one tool (`ls`) before streaming the reply.
    Tool,
    /// Fails like a provider error of this kind.
    Fail(FailureKind),
    /// Starts and never ends (until aborted or the gateway stops).
    Hang,
}

/// How a run will play out.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) kind: RunKind,
    pub(crate) duration: Duration,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunPhase {
    /// Accepted behind another run of the same session.
    Queued,
    /// Its driver task is emitting events.
    Running,
    /// Aborted; its driver emits the trailing lifecycle events and then ends it.
    Aborting,
    /// Terminal.
    Ended,
}

/// How a run ended, as `agent.wait` reports it.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Ok {
        text: String,
        ended_at: u64,
        receipt: Value,
    },
    Failed {
        error: String,
        started_at: Option<u64>,
        ended_at: u64,
    },
    Aborted {
        started_at: Option<u64>,
        ended_at: u64,
    },
}

/// One run (`runId` = the `idempotencyKey` of its `chat.send`).
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) id: String,
    pub(crate) session_key: String,
    pub(crate) session_id: String,
    pub(crate) agent_id: String,
    pub(crate) plan: Plan,
    pub(crate) phase: RunPhase,
    /// The per-run `seq` inside agent and chat payloads.
    pub(crate) seq: u64,
    /// The assistant text streamed so far.
    pub(crate) streamed: String,
    /// The id the assistant stream uses as `itemId`.
    pub(crate) item_id: String,
    /// The last assistant delta, whose chat `delta` event is held back until after lifecycle `end`
    /// (a quirk of the real gateway).
    pub(crate) pending_delta: Option<String>,
    /// The `toolCallId` of a tool run, and when the tool started.
    pub(crate) tool_call: Option<(String, u64)>,
    pub(crate) started_at: Option<u64>,
    /// The connection that sent the `chat.send` (target of `tool` events).
    pub(crate) starter: u64,
    /// Wakes the driver when the run is aborted.
    pub(crate) abort: Arc<Notify>,
    /// `Some` once the run is terminal; `agent.wait` waits on it.
    pub(crate) done: watch::Sender<Option<Outcome>>,
    /// Where its start and end are recorded, if anywhere.
    pub(crate) journal: Option<RunJournal>,
}

impl Run {
    pub(crate) fn is_unfinished(&self) -> bool {
        matches!(self.phase, RunPhase::Queued | RunPhase::Running)
    }

    /// Makes the run terminal with `outcome`: wakes `agent.wait` and journals the end.
    pub(crate) fn end(&self, outcome: Outcome) {
        if let Some(journal) = &self.journal {
            let name = match &outcome {
                Outcome::Ok { .. } => "ok",
                Outcome::Failed { .. } => "error",
                Outcome::Aborted { .. } => "aborted",
            };
            journal.ended(&self.id, name);
        }
        self.done.send_replace(Some(outcome));
    }
}

/// One session (created by the first `chat.send` to its key, or by `sessions.create`).
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) key: String,
    pub(crate) session_id: String,
    pub(crate) agent_id: String,
    pub(crate) label: Option<String>,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
    /// `running`, `done`, `failed`, `killed`, or none before the first run.
    pub(crate) status: Option<&'static str>,
    pub(crate) active_run: Option<String>,
    pub(crate) queue: VecDeque<String>,
    pub(crate) last_run_id: Option<String>,
    pub(crate) last_run_error: Option<String>,
    pub(crate) aborted_last_run: bool,
    pub(crate) started_at: Option<u64>,
    pub(crate) ended_at: Option<u64>,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    /// The transcript `chat.history` returns.
    pub(crate) messages: Vec<Value>,
}

impl Session {
    pub(crate) fn new(key: String, agent_id: String, now: u64) -> Self {
        Self {
            key,
            session_id: crate::frames::new_id(),
            agent_id,
            label: None,
            created_at: now,
            updated_at: now,
            status: None,
            active_run: None,
            queue: VecDeque::new(),
            last_run_id: None,
            last_run_error: None,
            aborted_last_run: false,
            started_at: None,
            ended_at: None,
            input_tokens: 0,
            output_tokens: 0,
            messages: Vec::new(),
        }
    }

    /// Unfinished run ids of this session: the active one first, then the queued ones.
    pub(crate) fn run_ids(&self) -> Vec<String> {
        self.active_run
            .iter()
            .chain(self.queue.iter())
            .cloned()
            .collect()
    }

    /// The row `sessions.list` (and `sessions.reset`'s `entry`) shows.
    pub(crate) fn row(&self, now: u64) -> Value {
        let active: Vec<&String> = self.active_run.iter().chain(self.queue.iter()).collect();
        json!({
            "key": self.key,
            "sessionId": self.session_id,
            "agentId": self.agent_id,
            "label": self.label,
            "kind": "direct",
            "chatType": "direct",
            "visibility": "shared",
            "createdVia": "operator",
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "status": self.status,
            "hasActiveRun": !active.is_empty(),
            "activeRunIds": active,
            "lastRunId": self.last_run_id,
            "lastRunError": self.last_run_error,
            "abortedLastRun": self.aborted_last_run,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
            "runtimeMs": match (self.started_at, self.ended_at) {
                (Some(s), Some(e)) if e >= s => Some(e - s),
                _ => None,
            },
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens,
            "totalTokensFresh": true,
            "modelProvider": crate::runs::PROVIDER,
            "model": crate::runs::MODEL,
            "contextTokens": 128_000,
            "snapshotAt": now,
        })
    }
}

/// Everything an instance knows; lost on restart.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) conns: Conns,
    pub(crate) sessions: HashMap<String, Session>,
    pub(crate) runs: HashMap<String, Run>,
}
