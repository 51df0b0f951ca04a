//! The public handle of one simulated gateway ([`SimGateway`]), how to start one ([`Simulator`]),
//! and its counters ([`SimStats`]).
//!
//! A `SimGateway` outlives restarts: it owns the address, the knobs and the counters
//! ([`Shared`]); each start or restart runs a fresh [`Instance`] (state, listener, connections).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::SimConfig;
use crate::rng::XorShift;
use crate::server::{Instance, Mode};

/// Locks a mutex, ignoring poisoning: every critical section of this crate leaves its data
/// consistent at each step, so a panic elsewhere does not make the data unusable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts simulated gateways.
#[derive(Debug, Clone, Copy, Default)]
pub struct Simulator;

impl Simulator {
    /// Starts one simulated gateway on 127.0.0.1 on any free port.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start(config: SimConfig) -> io::Result<SimGateway> {
        Self::start_on(config, 0).await
    }

    /// Starts one simulated gateway on 127.0.0.1:`port` (0 = any free port).
    ///
    /// # Errors
    /// When the port cannot be bound (for instance it is in use).
    pub async fn start_on(config: SimConfig, port: u16) -> io::Result<SimGateway> {
        let listener = bind(port)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            hang: watch::Sender::new(config.hang),
            failure_rate: Mutex::new(config.failure_rate),
            rng: Mutex::new(XorShift::new(config.seed)),
            config,
            addr,
            counters: Counters::default(),
            run_starts: Mutex::new(HashMap::new()),
            slot: Mutex::new(Slot::default()),
        });
        Shared::launch(&shared, listener);
        tracing::info!(%addr, "simulated openclaw gateway listening");
        Ok(SimGateway { shared })
    }
}

/// Binds 127.0.0.1:`port` with `SO_REUSEADDR`, so a restart can take the port back while old
/// connections linger in `TIME_WAIT`.
fn bind(port: u16) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    socket.listen(1024)
}

/// A snapshot of a gateway's counters. Connection and run counters add up over restarts;
/// `runs_active` is the current instance's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// WebSocket connections open now.
    pub connections_current: u64,
    /// WebSocket connections accepted since the gateway was created.
    pub connections_total: u64,
    /// Successful `connect` handshakes.
    pub handshakes_ok: u64,
    /// `connect` handshakes answered with an error (bad token, protocol, schema, start-up).
    pub handshakes_refused: u64,
    /// Plain HTTP requests answered (`/healthz` and friends).
    pub http_requests: u64,
    /// Runs accepted (`chat.send` answered `started`, or `sessions.create` with a message).
    pub runs_started: u64,
    /// Runs of the current instance that have not ended (running or queued).
    pub runs_active: u64,
    /// How many times each run id was started; a value above 1 means a run was started twice
    /// (possible only across a restart, which forgets the idempotency cache, as a real one does).
    pub run_starts: HashMap<String, u32>,
}

impl SimStats {
    /// The highest start count of any run id (0 when no run started).
    pub fn max_run_starts(&self) -> u32 {
        self.run_starts.values().copied().max().unwrap_or(0)
    }
}

/// Monotonic counters, kept across restarts.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_current: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) handshakes_ok: AtomicU64,
    pub(crate) handshakes_refused: AtomicU64,
    pub(crate) http_requests: AtomicU64,
    pub(crate) runs_started: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts an open WebSocket connection until dropped (also when its task is aborted).
pub(crate) struct OpenConnection<'a>(&'a Counters);

impl<'a> OpenConnection<'a> {
    pub(crate) fn new(counters: &'a Counters) -> Self {
        counters.connections_current.fetch_add(1, Ordering::Relaxed);
        counters.connections_total.fetch_add(1, Ordering::Relaxed);
        Self(counters)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections_current.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The running instance and its accept task.
#[derive(Debug, Default)]
struct Slot {
    instance: Option<Arc<Instance>>,
    task: Option<JoinHandle<()>>,
}

/// What a gateway keeps across restarts.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) addr: SocketAddr,
    /// Hang mode; connections wait on it.
    pub(crate) hang: watch::Sender<bool>,
    failure_rate: Mutex<f64>,
    rng: Mutex<XorShift>,
    pub(crate) counters: Counters,
    run_starts: Mutex<HashMap<String, u32>>,
    slot: Mutex<Slot>,
}

impl Shared {
    /// Starts a fresh instance on `listener`.
    fn launch(this: &Arc<Self>, listener: TcpListener) {
        let instance = Arc::new(Instance::new(Arc::clone(this)));
        let task = tokio::spawn(crate::server::accept_loop(Arc::clone(&instance), listener));
        let mut slot = lock(&this.slot);
        slot.instance = Some(instance);
        slot.task = Some(task);
    }

    pub(crate) fn is_hung(&self) -> bool {
        *self.hang.borrow()
    }

    pub(crate) fn failure_rate(&self) -> f64 {
        *lock(&self.failure_rate)
    }

    /// True with probability `p`, from the gateway's seeded generator.
    pub(crate) fn chance(&self, p: f64) -> bool {
        lock(&self.rng).chance(p)
    }

    /// A random duration in `[0, max]`.
    pub(crate) fn random_delay(&self, max: Duration) -> Duration {
        max.mul_f64(lock(&self.rng).next_f64())
    }

    /// Records that a run with this id was started.
    pub(crate) fn record_run_start(&self, run_id: &str) {
        Counters::bump(&self.counters.runs_started);
        *lock(&self.run_starts).entry(run_id.to_owned()).or_insert(0) += 1;
    }
}

/// Handle of one simulated gateway. Dropping it stops the gateway abruptly, like [`kill`].
///
/// [`kill`]: SimGateway::kill
#[derive(Debug)]
pub struct SimGateway {
    shared: Arc<Shared>,
}

impl SimGateway {
    /// The listening address (127.0.0.1 and the port).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The WebSocket endpoint, `ws://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("ws://{}", self.shared.addr)
    }

    /// The shared token `connect` must carry, if the gateway requires one.
    pub fn token(&self) -> Option<&str> {
        self.shared.config.token.as_deref()
    }

    /// The configuration the gateway was started with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Stops gracefully, as on SIGTERM: every client gets event `shutdown {reason:"gateway
    /// stopping"}` and close code 1012 "service restart"; the listener closes. Returns once every
    /// connection is closed (or after a 3 s grace period).
    pub async fn shutdown(self) {
        let (instance, task) = {
            let mut slot = lock(&self.shared.slot);
            (slot.instance.take(), slot.task.take())
        };
        if let Some(instance) = instance {
            instance.signal(Mode::Graceful);
        }
        if let Some(task) = task {
            let _ = task.await;
        }
        tracing::info!(addr = %self.shared.addr, "simulated gateway stopped");
    }

    /// Stops abruptly, like a crash: every connection is dropped without a close frame and the
    /// listener closes. Runs are lost. [`restart`](SimGateway::restart) brings it back.
    pub fn kill(&self) {
        let instance = lock(&self.shared.slot).instance.take();
        if let Some(instance) = instance {
            instance.signal(Mode::Killed);
            tracing::info!(addr = %self.shared.addr, "simulated gateway killed");
        }
    }

    /// Starts again on the same port with fresh state (no sessions, no runs, empty idempotency
    /// cache), as a restarted real gateway; kills the running instance first if there is one. The
    /// start-up window applies again.
    ///
    /// # Errors
    /// When the port cannot be bound again within about 2 s (another process took it).
    pub async fn restart(&self) -> io::Result<()> {
        self.kill();
        let old_task = lock(&self.shared.slot).task.take();
        if let Some(task) = old_task {
            let _ = task.await;
        }
        let mut attempt = 0;
        let listener = loop {
            match bind(self.shared.addr.port()) {
                Ok(listener) => break listener,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < 40 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        };
        Shared::launch(&self.shared, listener);
        tracing::info!(addr = %self.shared.addr, "simulated gateway restarted");
        Ok(())
    }

    /// Drops every current connection abruptly (no close frame) but keeps listening; runs go on.
    pub fn drop_connections(&self) {
        let instance = lock(&self.shared.slot).instance.clone();
        if let Some(instance) = instance {
            instance.drop_connections();
        }
    }

    /// Hang mode on or off. A hung gateway accepts TCP connections and reads requests but answers
    /// nothing: no WebSocket upgrade, no HTTP response, no `res`, no events, no ticks. Turning it
    /// off resumes everything that waited (requests read while hung stay unanswered).
    pub fn set_hang(&self, hang: bool) {
        self.shared.hang.send_replace(hang);
    }

    /// Changes the probability that a new run fails (see [`SimConfig::failure_rate`]).
    pub fn set_failure_rate(&self, rate: f64) {
        *lock(&self.shared.failure_rate) = rate;
    }

    /// Whether an instance is running (false after [`kill`](SimGateway::kill)).
    pub fn is_running(&self) -> bool {
        lock(&self.shared.slot).instance.is_some()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        let c = &self.shared.counters;
        let runs_active = lock(&self.shared.slot)
            .instance
            .clone()
            .map_or(0, |instance| instance.unfinished_runs());
        SimStats {
            connections_current: c.connections_current.load(Ordering::Relaxed),
            connections_total: c.connections_total.load(Ordering::Relaxed),
            handshakes_ok: c.handshakes_ok.load(Ordering::Relaxed),
            handshakes_refused: c.handshakes_refused.load(Ordering::Relaxed),
            http_requests: c.http_requests.load(Ordering::Relaxed),
            runs_started: c.runs_started.load(Ordering::Relaxed),
            runs_active,
            run_starts: lock(&self.shared.run_starts).clone(),
        }
    }

    /// How many times a run with this id was started (must stay at most 1).
    pub fn run_starts(&self, run_id: &str) -> u32 {
        lock(&self.shared.run_starts)
            .get(run_id)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for SimGateway {
    fn drop(&mut self) {
        self.kill();
    }
}
