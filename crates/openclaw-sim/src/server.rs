//! One running gateway [`Instance`]: the accept loop, which tells WebSocket upgrades from plain
//! HTTP requests on the same port, and the stop signals (graceful, kill, drop connections).
//!
//! Connections run as tasks in a `JoinSet` owned by the accept loop: aborting that set is how
//! connections are dropped abruptly (the socket is closed without a close frame).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::gateway::{Shared, lock};
use crate::state::State;

/// How an instance is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Running,
    /// `shutdown` event and close 1012 to every client, then stop.
    Graceful,
    /// Drop everything without a word.
    Killed,
}

/// The control signal every task of an instance watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Control {
    pub(crate) mode: Mode,
    /// Bumped by `drop_connections`.
    pub(crate) drop_gen: u64,
}

/// How long graceful shutdown waits for clients to acknowledge the close.
const GRACE: Duration = Duration::from_secs(3);

/// One life of a gateway, from a (re)start to a kill or shutdown.
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) shared: Arc<Shared>,
    pub(crate) boot_id: String,
    pub(crate) booted: Instant,
    pub(crate) control: watch::Sender<Control>,
    state: Mutex<State>,
    refusals_left: AtomicU32,
}

impl Instance {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let refusals = shared.config.startup_refusals;
        Self {
            shared,
            boot_id: crate::frames::new_id(),
            booted: Instant::now(),
            control: watch::Sender::new(Control {
                mode: Mode::Running,
                drop_gen: 0,
            }),
            state: Mutex::new(State::default()),
            refusals_left: AtomicU32::new(refusals),
        }
    }

    /// Locks the instance state. Never hold the guard across an `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn signal(&self, mode: Mode) {
        self.control.send_modify(|c| c.mode = mode);
    }

    pub(crate) fn drop_connections(&self) {
        self.control.send_modify(|c| c.drop_gen += 1);
    }

    /// Whether the simulated start-up window is still open (readiness probes answer 503).
    pub(crate) fn starting(&self) -> bool {
        self.booted.elapsed() < self.shared.config.startup_window
            || self.refusals_left.load(Ordering::Relaxed) > 0
    }

    /// Whether this `connect` must be refused as `UNAVAILABLE` (consumes one start-up refusal).
    pub(crate) fn refuse_connect(&self) -> bool {
        if self.booted.elapsed() < self.shared.config.startup_window {
            return true;
        }
        self.refusals_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn unfinished_runs(&self) -> u64 {
        let state = self.lock();
        state.runs.values().filter(|r| r.is_unfinished()).count() as u64
    }

    pub(crate) fn uptime_ms(&self) -> u64 {
        u64::try_from(self.booted.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Resolves when the instance leaves [`Mode::Running`] (or is gone), with the mode it went to.
pub(crate) async fn stopped(control: &mut watch::Receiver<Control>) -> Mode {
    match control.wait_for(|c| c.mode != Mode::Running).await {
        Ok(c) => c.mode,
        Err(_) => Mode::Killed,
    }
}

/// Accepts connections until the instance stops; owns every connection task.
pub(crate) async fn accept_loop(instance: Arc<Instance>, listener: TcpListener) {
    let mut control = instance.control.subscribe();
    let mut seen_drop_gen = control.borrow().drop_gen;
    let mut conns: JoinSet<()> = JoinSet::new();
    let mode = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::trace!(%peer, "accepted");
                    conns.spawn(serve_socket(Arc::clone(&instance), stream));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            changed = control.changed() => {
                let current = if changed.is_ok() {
                    *control.borrow_and_update()
                } else {
                    Control { mode: Mode::Killed, drop_gen: seen_drop_gen }
                };
                if current.mode != Mode::Running {
                    break current.mode;
                }
                if current.drop_gen != seen_drop_gen {
                    seen_drop_gen = current.drop_gen;
                    tracing::debug!(count = conns.len(), "dropping every connection");
                    conns.abort_all();
                }
            }
        }
    };
    drop(listener);
    if mode == Mode::Graceful {
        // Connections see the same signal and close themselves with 1012.
        let drained =
            tokio::time::timeout(GRACE, async { while conns.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::debug!("grace period over, dropping the remaining connections");
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the request head and hands the socket to the WebSocket or the HTTP side.
async fn serve_socket(instance: Arc<Instance>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let head = match tokio::time::timeout(HEAD_TIMEOUT, crate::http::read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "bad request head");
            crate::http::reply_bad_request(&mut stream).await;
            return;
        }
        Err(_) => return,
    };
    // A hung gateway answers nothing, not even the upgrade.
    let mut hang = instance.shared.hang.subscribe();
    if hang.wait_for(|hung| !hung).await.is_err() {
        return;
    }
    if head.is_websocket_upgrade() {
        crate::connection::serve(instance, stream, head).await;
    } else {
        crate::http::serve(&instance, stream, &head).await;
    }
}
