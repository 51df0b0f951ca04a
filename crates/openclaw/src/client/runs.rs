//! The runs a connection follows: each has a [`RunReconciler`] and a stream to its reader.
//!
//! A run's stream is a queue shared with its reader, never a channel the connection waits on:
//! one slow reader must not stall the other runs or the liveness checks. The queue is bounded
//! by coalescing: past `capacity` events, a delta merges into the delta before it and a status
//! is dropped; starts, tools and the terminal event are always kept.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use godel_lifecycle::{RunEvent, RunEvents, RunId, SessionKey};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Notify;

use crate::protocol::reconcile::RunReconciler;
use crate::protocol::{AgentWaitResult, GatewayEvent, SessionsListResult, WaitOutcome};

/// A run's event queue, shared by its sink (the connection) and its stream (the reader).
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    notify: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<RunEvent>,
    /// No more events will come.
    closed: bool,
    /// The reader dropped its stream.
    abandoned: bool,
    /// Statuses dropped for lack of room.
    dropped: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent: every update
        // is a single push, pop or flag.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A new run stream and the sink that feeds it.
pub(crate) fn channel(capacity: usize) -> (RunSink, RunStream) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        notify: Notify::new(),
        capacity: capacity.max(1),
    });
    (
        RunSink {
            shared: Arc::clone(&shared),
        },
        RunStream { shared },
    )
}

/// The connection's end of a run's stream. Dropping it ends the stream.
#[derive(Debug)]
pub(crate) struct RunSink {
    shared: Arc<Shared>,
}

impl RunSink {
    /// Queues `event`; a terminal one closes the stream.
    pub(crate) fn push(&self, event: RunEvent) {
        {
            let mut q = self.shared.lock();
            if q.closed {
                return;
            }
            let terminal = event.is_terminal();
            if q.events.len() < self.shared.capacity || terminal {
                q.events.push_back(event);
            } else {
                match (event, q.events.back_mut()) {
                    (RunEvent::Delta { text }, Some(RunEvent::Delta { text: last })) => {
                        last.push_str(&text);
                    }
                    (RunEvent::Status { .. }, _) => q.dropped += 1,
                    (event, _) => q.events.push_back(event),
                }
            }
            q.closed = terminal;
        }
        self.shared.notify.notify_one();
    }

    /// Whether the reader dropped its stream.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.shared.lock().abandoned
    }
}

impl Drop for RunSink {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.notify.notify_one();
    }
}

/// The reader's end: a run's [`RunEvent`]s, ending after the terminal one.
#[derive(Debug)]
pub(crate) struct RunStream {
    shared: Arc<Shared>,
}

#[async_trait]
impl RunEvents for RunStream {
    async fn next(&mut self) -> Option<RunEvent> {
        loop {
            {
                let mut q = self.shared.lock();
                if let Some(event) = q.events.pop_front() {
                    return Some(event);
                }
                if q.closed {
                    if q.dropped > 0 {
                        tracing::debug!(
                            dropped = q.dropped,
                            "status events dropped for a slow reader"
                        );
                        q.dropped = 0;
                    }
                    return None;
                }
            }
            // One reader per stream: a permit stored by `notify_one` before this wait is not lost.
            self.shared.notify.notified().await;
        }
    }
}

impl Drop for RunStream {
    fn drop(&mut self) {
        self.shared.lock().abandoned = true;
    }
}

/// Whether a run's end must be confirmed with `agent.wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    /// Its events are followed live.
    No,
    /// Events may have been missed (a reconnect, or a re-sent run that already ended).
    Needed,
    /// `agent.wait` sent on this connection.
    Sent,
}

#[derive(Debug)]
struct Followed {
    session: SessionKey,
    sink: RunSink,
    reconciler: RunReconciler,
    confirm: Confirm,
    /// `agent.wait` said it still runs, and no event of it came since: checked again from
    /// time to time (a gateway that crashed forgets runs but says they time out).
    suspect: bool,
}

/// The runs followed on one gateway, by run id.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    followed: HashMap<String, Followed>,
}

impl Runs {
    /// Follows `run` into `sink`; a previous follower of the same run is told it lost the
    /// stream.
    pub(crate) fn follow(&mut self, run: &RunId, session: SessionKey, sink: RunSink) {
        let fresh = Followed {
            session,
            sink,
            reconciler: RunReconciler::new(),
            confirm: Confirm::No,
            suspect: false,
        };
        if let Some(mut old) = self.followed.insert(run.as_str().to_owned(), fresh)
            && let Some(event) = old
                .reconciler
                .lose("the run is followed by a newer request")
        {
            old.sink.push(event);
        }
    }

    /// Routes an `agent` or `chat` event to its run, if followed.
    pub(crate) fn route(&mut self, event: &GatewayEvent) {
        let Some(run) = event.run_id() else { return };
        let Some(followed) = self.followed.get_mut(run) else {
            return;
        };
        if followed.sink.is_abandoned() {
            self.followed.remove(run);
            return;
        }
        followed.suspect = false;
        if let Some(out) = followed.reconciler.on_event(event) {
            followed.sink.push(out);
        }
        if followed.reconciler.is_finished() {
            self.followed.remove(run);
        }
    }

    /// Applies `agent.wait`'s answer for `run`: its end, or (still running) nothing, or (no
    /// usable answer) the loss of its stream. Returns whether the gateway says it still runs
    /// (then [`verify`](Self::verify) checks that its session is active).
    pub(crate) fn confirmed(&mut self, run: &RunId, answer: Result<Value, String>) -> bool {
        let outcome = answer.and_then(|payload| {
            AgentWaitResult::deserialize(&payload)
                .map(|r| r.outcome())
                .map_err(|e| format!("unreadable agent.wait answer: {e}"))
        });
        let running = matches!(outcome, Ok(WaitOutcome::Running));
        self.end(run, outcome);
        match self.followed.get_mut(run.as_str()) {
            Some(followed) if running => {
                followed.suspect = true;
                true
            }
            _ => false,
        }
    }

    /// Asks for the suspect runs to be confirmed again; returns whether there are any.
    pub(crate) fn recheck(&mut self) -> bool {
        let mut any = false;
        for followed in self.followed.values_mut() {
            if followed.suspect && followed.confirm == Confirm::No {
                followed.confirm = Confirm::Needed;
                any = true;
            }
        }
        any
    }

    /// Applies a `sessions.list {activeOnly: true}` answer to runs `agent.wait` said still
    /// run: one whose session is not active is gone (after a gateway crash `agent.wait`
    /// answers `timeout` for a run it forgot), and its stream is lost. A partial list (more
    /// pages) proves nothing.
    pub(crate) fn verify(&mut self, runs: &[RunId], answer: &Value) {
        let Ok(list) = SessionsListResult::deserialize(answer) else {
            return;
        };
        if list.has_more {
            return;
        }
        let active: HashSet<&str> = list
            .sessions
            .iter()
            .filter(|s| s.active())
            .map(|s| s.key.as_str())
            .collect();
        for run in runs {
            let gone = self
                .followed
                .get(run.as_str())
                .is_some_and(|f| !active.contains(f.session.as_str()));
            if gone {
                self.lose(
                    run,
                    "the gateway no longer runs it (no active run in its session)",
                );
            }
        }
    }

    /// Ends `run` with an outcome learnt elsewhere (a refused re-send of a run that ended).
    pub(crate) fn settle(&mut self, run: &RunId, outcome: &WaitOutcome) {
        self.end(run, Ok(outcome.clone()));
    }

    fn end(&mut self, run: &RunId, outcome: Result<WaitOutcome, String>) {
        let Some(followed) = self.followed.get_mut(run.as_str()) else {
            return;
        };
        followed.confirm = Confirm::No;
        let event = match outcome {
            Ok(outcome) => followed.reconciler.on_wait(&outcome),
            Err(why) => followed
                .reconciler
                .lose(&format!("the run's end could not be confirmed: {why}")),
        };
        if let Some(event) = event {
            followed.sink.push(event);
        }
        if followed.reconciler.is_finished() {
            self.followed.remove(run.as_str());
        }
    }

    /// Asks for `run`'s end to be confirmed (on this connection or the next).
    pub(crate) fn need_confirm(&mut self, run: &RunId) {
        if let Some(followed) = self.followed.get_mut(run.as_str()) {
            followed.confirm = Confirm::Needed;
        }
    }

    /// The connection dropped: every run's end must be confirmed on the next one.
    pub(crate) fn disconnected(&mut self) {
        for followed in self.followed.values_mut() {
            followed.confirm = Confirm::Needed;
        }
    }

    /// Runs whose confirmation is due, marked as sent.
    pub(crate) fn take_confirms(&mut self) -> Vec<RunId> {
        self.followed
            .iter_mut()
            .filter(|(_, f)| f.confirm == Confirm::Needed && !f.sink.is_abandoned())
            .map(|(run, f)| {
                f.confirm = Confirm::Sent;
                RunId::new(run.clone())
            })
            .collect()
    }

    /// Whether some run waits for a reconnect to be confirmed.
    pub(crate) fn awaiting_confirm(&self) -> bool {
        self.followed.values().any(|f| f.confirm != Confirm::No)
    }

    /// Ends `run`'s stream with [`RunEvent::Lost`].
    pub(crate) fn lose(&mut self, run: &RunId, reason: &str) {
        if let Some(mut followed) = self.followed.remove(run.as_str())
            && let Some(event) = followed.reconciler.lose(reason)
        {
            followed.sink.push(event);
        }
    }

    /// Ends every stream with [`RunEvent::Lost`].
    pub(crate) fn lose_all(&mut self, reason: &str) {
        for (_, mut followed) in self.followed.drain() {
            if let Some(event) = followed.reconciler.lose(reason) {
                followed.sink.push(event);
            }
        }
    }

    /// Forgets runs whose reader dropped its stream.
    pub(crate) fn sweep(&mut self) {
        self.followed.retain(|_, f| !f.sink.is_abandoned());
    }

    /// Runs followed.
    pub(crate) fn len(&self) -> usize {
        self.followed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AgentEvent, AgentStream, AssistantData, RunStatusData};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn agent(run: &str, stream: AgentStream) -> GatewayEvent {
        GatewayEvent::Agent(AgentEvent {
            run_id: run.into(),
            seq: None,
            ts: None,
            session_key: None,
            agent_id: None,
            stream,
        })
    }

    #[test]
    fn a_slow_reader_gets_coalesced_deltas_and_the_terminal_event() {
        let (sink, mut stream) = channel(2);
        sink.push(RunEvent::Started);
        sink.push(RunEvent::Delta { text: "a".into() });
        sink.push(RunEvent::Delta { text: "b".into() });
        sink.push(RunEvent::Status { phase: "x".into() });
        sink.push(RunEvent::Delta { text: "c".into() });
        sink.push(RunEvent::Completed { reply: None });
        sink.push(RunEvent::Delta {
            text: "late".into(),
        });
        let events = block_on(async {
            let mut all = Vec::new();
            while let Some(e) = stream.next().await {
                all.push(e);
            }
            all
        });
        assert_eq!(
            events,
            vec![
                RunEvent::Started,
                RunEvent::Delta { text: "abc".into() },
                RunEvent::Completed { reply: None },
            ]
        );
    }

    #[test]
    fn dropping_the_sink_ends_the_stream() {
        let (sink, mut stream) = channel(4);
        sink.push(RunEvent::Started);
        drop(sink);
        assert_eq!(block_on(stream.next()), Some(RunEvent::Started));
        assert_eq!(block_on(stream.next()), None);
    }

    #[test]
    fn routing_reaches_followed_runs_only_and_forgets_ended_or_abandoned_ones() {
        let mut runs = Runs::default();
        let (sink, mut stream) = channel(8);
        runs.follow(&RunId::new("r1"), SessionKey::new("agent:main:s"), sink);
        let (other, other_stream) = channel(8);
        runs.follow(&RunId::new("r2"), SessionKey::new("agent:main:s"), other);
        drop(other_stream);
        runs.route(&agent(
            "r1",
            AgentStream::RunStatus(RunStatusData { phase: "p".into() }),
        ));
        runs.route(&agent(
            "zz",
            AgentStream::RunStatus(RunStatusData { phase: "p".into() }),
        ));
        runs.route(&agent(
            "r2",
            AgentStream::Assistant(AssistantData {
                delta: Some("x".into()),
                text: None,
            }),
        ));
        assert_eq!(runs.len(), 1);
        runs.confirmed(&RunId::new("r1"), Ok(serde_json::json!({"status": "ok"})));
        assert_eq!(runs.len(), 0);
        assert_eq!(
            block_on(stream.next()),
            Some(RunEvent::Status { phase: "p".into() })
        );
        assert_eq!(
            block_on(stream.next()),
            Some(RunEvent::Completed { reply: None })
        );
        assert_eq!(block_on(stream.next()), None);
    }

    #[test]
    fn runs_said_running_are_lost_only_when_their_session_is_surely_idle() {
        let mut runs = Runs::default();
        let (sink, mut stream) = channel(8);
        let run = RunId::new("r");
        runs.follow(&run, SessionKey::new("agent:main:s"), sink);
        assert!(runs.confirmed(&run, Ok(serde_json::json!({"status": "timeout"}))));
        let other_active = serde_json::json!({"hasMore": false, "sessions": [{"key": "agent:main:t", "hasActiveRun": true}]});
        let partial = serde_json::json!({"hasMore": true, "sessions": []});
        let ours_active = serde_json::json!({"hasMore": false, "sessions": [{"key": "agent:main:s", "status": "running"}]});
        runs.verify(std::slice::from_ref(&run), &partial);
        runs.verify(std::slice::from_ref(&run), &ours_active);
        assert_eq!(runs.len(), 1);
        runs.verify(std::slice::from_ref(&run), &other_active);
        assert_eq!(runs.len(), 0);
        assert!(matches!(
            block_on(stream.next()),
            Some(RunEvent::Lost { .. })
        ));
    }

    #[test]
    fn confirmations_track_reconnects() {
        let mut runs = Runs::default();
        let (sink, mut stream) = channel(8);
        runs.follow(&RunId::new("r"), SessionKey::new("agent:main:s"), sink);
        assert!(!runs.awaiting_confirm());
        runs.disconnected();
        assert!(runs.awaiting_confirm());
        assert_eq!(runs.take_confirms(), vec![RunId::new("r")]);
        assert!(runs.take_confirms().is_empty());
        runs.confirmed(
            &RunId::new("r"),
            Ok(serde_json::json!({"status": "timeout"})),
        );
        assert_eq!(runs.len(), 1);
        assert!(!runs.awaiting_confirm());
        runs.confirmed(&RunId::new("r"), Err("NOT_FOUND".into()));
        assert!(matches!(
            block_on(stream.next()),
            Some(RunEvent::Lost { .. })
        ));
        assert_eq!(runs.len(), 0);
    }
}
