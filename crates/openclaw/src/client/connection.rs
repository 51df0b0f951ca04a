//! The connection actor: one background task per gateway owns the WebSocket.
//!
//! It takes [`Command`]s from the [`OpenClawGateway`](super::OpenClawGateway) handles, writes
//! requests and correlates responses by id, routes `agent`/`chat` events to the followed runs,
//! watches liveness (no frame for `missed_ticks` tick intervals: dead), and reconnects with
//! backoff. After a reconnect it sends `agent.wait` (short timeout) for every run still
//! followed: a run that ended while disconnected gets its terminal event from the answer, one
//! still running keeps streaming, one whose end cannot be confirmed gets
//! [`RunEvent::Lost`](godel_lifecycle::RunEvent::Lost), as do all runs when no reconnect
//! succeeds within `resume_window`.
//!
//! States: *disconnected* (waiting for the next attempt, or only for demand after the gateway
//! refused the credentials or the protocol), *connecting* (the handshake runs; requests wait
//! for it), *connected*. It stops when every handle is dropped or on `close`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use godel_lifecycle::{GatewayError, RunId, SessionKey};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::backoff::Backoff;
use super::config::OpenClawConfig;
use super::handshake::{self, Target};
use super::pending::{Answer, Pending, Refusal, Responder, Waiter};
use super::runs::{RunSink, Runs};
use super::socket::{self, Incoming, Socket};
use crate::error::from_response;
use crate::protocol::{
    AgentWaitParams, Frame, GatewayEvent, HelloOk, Request, SessionsListParams, WaitOutcome, method,
};

/// How often abandoned requests and runs are swept while connected.
const HOUSEKEEPING: Duration = Duration::from_millis(250);

/// Active sessions asked for when checking that runs still run (more: the check is skipped).
const VERIFY_LIMIT: u32 = 1000;

/// The longest `retryAfterMs` honoured before reconnecting (a larger one is cut to this).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The tick interval assumed when `hello-ok` gives none.
const DEFAULT_TICK: Duration = Duration::from_secs(30);

/// What the connection is doing, as its handles see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// Opening the socket or handshaking.
    Connecting,
    /// Connected and handshaken.
    Connected {
        /// The gateway's version.
        server_version: String,
        /// This connection's id on the gateway.
        conn_id: Option<String>,
        /// Counts successful connections (1 for the first, 2 after one reconnect, ...).
        generation: u64,
    },
    /// Not connected.
    Disconnected {
        /// Why the last attempt or connection failed.
        error: GatewayError,
        /// When the next attempt is made (none: only when a call needs the connection).
        retry_in: Option<Duration>,
    },
    /// Closed for good (`close`, or every handle dropped).
    Closed,
}

/// A request to send.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The method.
    pub(crate) method: String,
    /// Its parameters.
    pub(crate) params: Value,
    /// The W3C trace context.
    pub(crate) traceparent: String,
    /// Where the answer goes.
    pub(crate) reply: oneshot::Sender<Answer>,
    /// When the caller gives up.
    pub(crate) deadline: Instant,
}

/// What a handle asks of the connection.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send a request.
    Request(Outgoing),
    /// Follow a run's events into `sink` (sent before the run is started).
    Follow {
        /// The run.
        run: RunId,
        /// Its session.
        session: SessionKey,
        /// Its stream's sink.
        sink: RunSink,
    },
    /// Confirm a followed run's end with `agent.wait` (it may already have ended).
    Confirm {
        /// The run.
        run: RunId,
    },
    /// End a followed run with what the gateway said about it elsewhere (a refused re-send).
    Settle {
        /// The run.
        run: RunId,
        /// How it ended.
        outcome: WaitOutcome,
    },
    /// Close the connection and stop.
    Close {
        /// Answered once closed.
        done: oneshot::Sender<()>,
    },
}

type Opening = Pin<Box<dyn Future<Output = Result<(Socket, HelloOk), GatewayError>> + Send>>;

/// When to try connecting next.
#[derive(Debug, Clone, Copy)]
enum Wake {
    /// Automatically at this instant.
    At(Instant),
    /// Only when a request needs the connection, and not before this instant.
    OnDemand(Instant),
}

/// How the disconnected phase ended.
enum Next {
    Connected(Box<Socket>, HelloOk),
    Stop(Option<oneshot::Sender<()>>),
}

/// How the connected phase ended.
enum Ended {
    Lost(GatewayError),
    Stop(Option<oneshot::Sender<()>>),
}

/// The background task of one gateway client.
pub(crate) struct Actor {
    config: Arc<OpenClawConfig>,
    target: Arc<Target>,
    instance: String,
    commands: mpsc::Receiver<Command>,
    status: watch::Sender<ConnectionStatus>,
    pending: Pending,
    runs: Runs,
    parked: Vec<Outgoing>,
    backoff: Backoff,
    last_error: Option<GatewayError>,
    disconnected_since: Option<Instant>,
    to_verify: Vec<RunId>,
    next_id: u64,
    generation: u64,
}

impl Actor {
    /// An actor for `target`, driven by `commands`, reporting to `status`.
    pub(crate) fn new(
        config: Arc<OpenClawConfig>,
        target: Arc<Target>,
        instance: String,
        commands: mpsc::Receiver<Command>,
        status: watch::Sender<ConnectionStatus>,
    ) -> Self {
        let backoff = Backoff::new(
            config.backoff_initial,
            config.backoff_max,
            config.backoff_jitter,
        );
        Self {
            config,
            target,
            instance,
            commands,
            status,
            pending: Pending::default(),
            runs: Runs::default(),
            parked: Vec::new(),
            backoff,
            last_error: None,
            disconnected_since: None,
            to_verify: Vec::new(),
            next_id: 0,
            generation: 0,
        }
    }

    /// Runs until closed or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let mut wake = Wake::At(Instant::now());
        let done = loop {
            match self.disconnected(&mut wake).await {
                Next::Stop(done) => break done,
                Next::Connected(socket, hello) => match self.connected(*socket, hello).await {
                    Ended::Stop(done) => break done,
                    Ended::Lost(error) => {
                        tracing::warn!(instance = %self.instance, endpoint = %self.target.endpoint, %error, "gateway connection lost");
                        wake = self.failed(error, false);
                    }
                },
            }
        };
        self.stop();
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Waits for the time (or the demand) to connect, and connects.
    async fn disconnected(&mut self, wake: &mut Wake) -> Next {
        let mut opening: Option<Opening> = None;
        loop {
            let lose_at = self.lose_deadline();
            let auto_at = match (*wake, opening.is_some()) {
                (Wake::At(at), false) => Some(at),
                _ => None,
            };
            tokio::select! {
                result = poll_opening(&mut opening), if opening.is_some() => {
                    opening = None;
                    match result {
                        Ok((socket, hello)) => return Next::Connected(Box::new(socket), hello),
                        Err(error) => {
                            tracing::debug!(instance = %self.instance, endpoint = %self.target.endpoint, %error, "gateway connection attempt failed");
                            for out in std::mem::take(&mut self.parked) {
                                let _ = out.reply.send(Err(error.clone().into()));
                            }
                            *wake = self.failed(error, true);
                        }
                    }
                }
                command = self.commands.recv() => match command {
                    None => return Next::Stop(None),
                    Some(Command::Close { done }) => return Next::Stop(Some(done)),
                    Some(Command::Follow { run, session, sink }) => self.runs.follow(&run, session, sink),
                    Some(Command::Confirm { run }) => self.runs.need_confirm(&run),
                    Some(Command::Settle { run, outcome }) => self.runs.settle(&run, &outcome),
                    Some(Command::Request(out)) => {
                        let now = Instant::now();
                        match *wake {
                            _ if opening.is_some() => self.parked.push(out),
                            Wake::At(at) | Wake::OnDemand(at) if at <= now => {
                                self.parked.push(out);
                                opening = Some(self.open());
                            }
                            Wake::At(at) => {
                                let message = match &self.last_error {
                                    Some(e) => format!("not connected ({e})"),
                                    None => "not connected".to_owned(),
                                };
                                let _ = out.reply.send(Err(Refusal::from(GatewayError::Unavailable {
                                    message,
                                    retry_after: Some(at.saturating_duration_since(now)),
                                })));
                            }
                            Wake::OnDemand(at) => {
                                let error = self.last_error.clone().unwrap_or_else(|| {
                                    GatewayError::Unavailable { message: "not connected".into(), retry_after: Some(at.saturating_duration_since(now)) }
                                });
                                let _ = out.reply.send(Err(error.into()));
                            }
                        }
                    }
                },
                () = sleep_until(auto_at), if auto_at.is_some() => {
                    opening = Some(self.open());
                }
                () = sleep_until(lose_at), if lose_at.is_some() => {
                    let reason = format!("no connection to the gateway for {:?}", self.config.resume_window);
                    self.runs.lose_all(&reason);
                }
            }
        }
    }

    /// Starts a connection attempt.
    fn open(&self) -> Opening {
        let _ = self.status.send(ConnectionStatus::Connecting);
        Box::pin(handshake::open(
            Arc::clone(&self.config),
            Arc::clone(&self.target),
        ))
    }

    /// Records a failed attempt (`handshake`) or a lost connection; returns when to try again.
    fn failed(&mut self, error: GatewayError, handshake: bool) -> Wake {
        let mut delay = self.backoff.next_delay();
        if let Some(asked) = error.retry_after() {
            delay = delay.max(asked.min(MAX_RETRY_AFTER));
        }
        let now = Instant::now();
        self.disconnected_since.get_or_insert(now);
        // Refused credentials, or a handshake the gateway does not speak: retrying by itself
        // cannot help. (A malformed frame on a working connection only resets it.)
        let on_demand = match error {
            GatewayError::Unauthorized(_) => true,
            GatewayError::Protocol(_) => handshake,
            _ => false,
        };
        if on_demand {
            self.runs
                .lose_all(&format!("the gateway refused the connection: {error}"));
        }
        let _ = self.status.send(ConnectionStatus::Disconnected {
            error: error.clone(),
            retry_in: (!on_demand).then_some(delay),
        });
        self.last_error = Some(error);
        if on_demand {
            Wake::OnDemand(now + delay)
        } else {
            Wake::At(now + delay)
        }
    }

    /// When runs waiting for a reconnect give up.
    fn lose_deadline(&self) -> Option<Instant> {
        let since = self.disconnected_since?;
        self.runs
            .awaiting_confirm()
            .then(|| since + self.config.resume_window)
    }

    /// Serves one connection until it ends.
    async fn connected(&mut self, mut socket: Socket, hello: HelloOk) -> Ended {
        self.generation += 1;
        self.backoff.reset();
        self.last_error = None;
        self.disconnected_since = None;
        let tick = hello
            .policy
            .tick_interval_ms
            .filter(|ms| *ms > 0)
            .map_or(DEFAULT_TICK, Duration::from_millis)
            .min(Duration::from_secs(3600));
        let silence = tick * self.config.missed_ticks.max(1) + tick / 2;
        let max_payload = hello.policy.max_payload;
        tracing::info!(
            instance = %self.instance,
            endpoint = %self.target.endpoint,
            server_version = %hello.server.version,
            generation = self.generation,
            "gateway connected"
        );
        let _ = self.status.send(ConnectionStatus::Connected {
            server_version: hello.server.version.clone(),
            conn_id: hello.server.conn_id.clone(),
            generation: self.generation,
        });
        let mut last_seen = Instant::now();
        for out in std::mem::take(&mut self.parked) {
            if let Err(e) = self.send_request(&mut socket, out, max_payload).await {
                return self.lost(e);
            }
        }
        if let Err(e) = self.send_confirms(&mut socket).await {
            return self.lost(e);
        }
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let recheck_every = self.config.recheck_interval.max(HOUSEKEEPING);
        let mut recheck = tokio::time::interval_at(Instant::now() + recheck_every, recheck_every);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                read = socket.next() => match socket::classify(read) {
                    Incoming::Frame(frame) => {
                        last_seen = Instant::now();
                        self.on_frame(frame);
                        if let Err(e) = self.send_verify(&mut socket).await {
                            return self.lost(e);
                        }
                    }
                    Incoming::Nothing => last_seen = Instant::now(),
                    Incoming::Malformed(e) => {
                        tracing::warn!(instance = %self.instance, error = %e, "malformed frame from the gateway; resetting the connection");
                        socket::close(&mut socket, CloseCode::Protocol, "malformed frame").await;
                        return self.lost(e.into());
                    }
                    Incoming::Ended(e) => return self.lost(e),
                },
                command = self.commands.recv() => match command {
                    None => {
                        socket::close(&mut socket, CloseCode::Normal, "client dropped").await;
                        return Ended::Stop(None);
                    }
                    Some(Command::Close { done }) => {
                        socket::close(&mut socket, CloseCode::Normal, "client closing").await;
                        return Ended::Stop(Some(done));
                    }
                    Some(Command::Request(out)) => {
                        if let Err(e) = self.send_request(&mut socket, out, max_payload).await {
                            return self.lost(e);
                        }
                    }
                    Some(Command::Follow { run, session, sink }) => self.runs.follow(&run, session, sink),
                    Some(Command::Settle { run, outcome }) => self.runs.settle(&run, &outcome),
                    Some(Command::Confirm { run }) => {
                        self.runs.need_confirm(&run);
                        if let Err(e) = self.send_confirms(&mut socket).await {
                            return self.lost(e);
                        }
                    }
                },
                () = tokio::time::sleep_until(last_seen + silence) => {
                    socket::close(&mut socket, CloseCode::Away, "no tick").await;
                    return self.lost(GatewayError::unavailable(format!(
                        "no frame from the gateway for {silence:?} (tick interval {tick:?})"
                    )));
                }
                _ = recheck.tick() => {
                    if self.runs.recheck()
                        && let Err(e) = self.send_confirms(&mut socket).await
                    {
                        return self.lost(e);
                    }
                }
                _ = housekeeping.tick() => {
                    for run in self.pending.expire(Instant::now()) {
                        self.runs.lose(&run, "agent.wait did not answer in time");
                    }
                    self.runs.sweep();
                }
            }
        }
    }

    /// The connection is gone: callers fail, runs await confirmation on the next one.
    fn lost(&mut self, error: GatewayError) -> Ended {
        tracing::debug!(
            instance = %self.instance,
            requests = self.pending.len(),
            runs = self.runs.len(),
            "failing requests in flight; runs await a reconnect"
        );
        let message = format!("connection to the gateway lost: {error}");
        self.pending.fail_all(&GatewayError::unavailable(message));
        self.to_verify.clear();
        self.runs.disconnected();
        Ended::Lost(error)
    }

    /// Handles one frame from the gateway.
    fn on_frame(&mut self, frame: Frame) {
        match frame {
            Frame::Response(response) => {
                let Some(waiter) = self.pending.take(&response.id) else {
                    tracing::debug!(instance = %self.instance, id = %response.id, "response to no pending request");
                    return;
                };
                match waiter.responder {
                    Responder::Caller(reply) => {
                        let _ = reply.send(response.outcome.map_err(|e| Refusal {
                            error: from_response(&waiter.method, &e),
                            payload: e.payload,
                        }));
                    }
                    Responder::Confirm(run) => {
                        let answer = response
                            .outcome
                            .map_err(|e| from_response(&waiter.method, &e).to_string());
                        if self.runs.confirmed(&run, answer) {
                            self.to_verify.push(run);
                        }
                    }
                    Responder::Verify(runs) => {
                        if let Ok(answer) = &response.outcome {
                            self.runs.verify(&runs, answer);
                        }
                    }
                }
            }
            Frame::Event(event) => match GatewayEvent::from_event(event) {
                Ok(event @ (GatewayEvent::Agent(_) | GatewayEvent::Chat(_))) => {
                    self.runs.route(&event);
                }
                Ok(GatewayEvent::Shutdown { reason }) => {
                    tracing::info!(instance = %self.instance, reason = reason.as_deref().unwrap_or(""), "gateway shutting down");
                }
                Ok(GatewayEvent::Tick | GatewayEvent::Challenge(_) | GatewayEvent::Other(_)) => {}
                Err(e) => {
                    tracing::debug!(instance = %self.instance, error = %e, "ignoring an event");
                }
            },
            Frame::Request(request) => {
                tracing::debug!(instance = %self.instance, method = %request.method, "ignoring a request from the gateway");
            }
        }
    }

    /// Writes a caller's request; a failed write loses the connection.
    async fn send_request(
        &mut self,
        socket: &mut Socket,
        out: Outgoing,
        max_payload: Option<u64>,
    ) -> Result<(), GatewayError> {
        if out.reply.is_closed() {
            return Ok(());
        }
        let id = self.next_id();
        let request = Request {
            id: id.clone(),
            method: out.method.clone(),
            params: out.params,
            traceparent: Some(out.traceparent),
        };
        let text = match request.encode() {
            Ok(text) => text,
            Err(e) => {
                let _ = out.reply.send(Err(GatewayError::from(e).into()));
                return Ok(());
            }
        };
        if let Some(max) = max_payload
            && u64::try_from(text.len()).unwrap_or(u64::MAX) > max
        {
            let _ = out.reply.send(Err(Refusal::from(GatewayError::Rejected {
                code: "PAYLOAD_TOO_LARGE".into(),
                message: format!(
                    "{}: request of {} bytes exceeds the gateway's maxPayload of {max}",
                    out.method,
                    text.len()
                ),
                retryable: false,
                retry_after: None,
            })));
            return Ok(());
        }
        self.pending.insert(
            id,
            Waiter {
                method: out.method,
                responder: Responder::Caller(out.reply),
                deadline: out.deadline,
            },
        );
        socket::write(socket, text, self.config.request_timeout).await
    }

    /// Sends `agent.wait` for every run whose end must be confirmed.
    async fn send_confirms(&mut self, socket: &mut Socket) -> Result<(), GatewayError> {
        let timeout = self.config.confirm_timeout;
        for run in self.runs.take_confirms() {
            let id = self.next_id();
            let params = AgentWaitParams {
                run_id: run.as_str().to_owned(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            };
            let request = Request {
                id: id.clone(),
                method: method::AGENT_WAIT.to_owned(),
                params: serde_json::to_value(params).unwrap_or(Value::Null),
                traceparent: Some(super::trace::fresh()),
            };
            let Ok(text) = request.encode() else { continue };
            tracing::debug!(instance = %self.instance, run = %run, "confirming a run after a reconnect");
            self.pending.insert(
                id,
                Waiter {
                    method: method::AGENT_WAIT.to_owned(),
                    responder: Responder::Confirm(run),
                    deadline: Instant::now() + timeout + self.config.request_timeout,
                },
            );
            socket::write(socket, text, self.config.request_timeout).await?;
        }
        Ok(())
    }

    /// Sends `sessions.list {activeOnly: true}` to check the runs `agent.wait` said still run.
    async fn send_verify(&mut self, socket: &mut Socket) -> Result<(), GatewayError> {
        if self.to_verify.is_empty() {
            return Ok(());
        }
        let runs = std::mem::take(&mut self.to_verify);
        let id = self.next_id();
        let params = SessionsListParams {
            limit: VERIFY_LIMIT,
            offset: None,
            active_only: Some(true),
        };
        let request = Request {
            id: id.clone(),
            method: method::SESSIONS_LIST.to_owned(),
            params: serde_json::to_value(params).unwrap_or(Value::Null),
            traceparent: Some(super::trace::fresh()),
        };
        let Ok(text) = request.encode() else {
            return Ok(());
        };
        self.pending.insert(
            id,
            Waiter {
                method: method::SESSIONS_LIST.to_owned(),
                responder: Responder::Verify(runs),
                deadline: Instant::now() + self.config.request_timeout,
            },
        );
        socket::write(socket, text, self.config.request_timeout).await
    }

    fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// Final cleanup: nothing waits on a stopped actor.
    fn stop(&mut self) {
        let closed = GatewayError::unavailable("the gateway client was closed");
        self.pending.fail_all(&closed);
        for out in std::mem::take(&mut self.parked) {
            let _ = out.reply.send(Err(closed.clone().into()));
        }
        self.runs.lose_all("the gateway client was closed");
        let _ = self.status.send(ConnectionStatus::Closed);
        tracing::debug!(instance = %self.instance, "gateway client stopped");
    }
}

/// Polls the connection attempt, if any (the branch is disabled otherwise).
async fn poll_opening(opening: &mut Option<Opening>) -> Result<(Socket, HelloOk), GatewayError> {
    match opening {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at` (forever when none; the branch is disabled then).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
