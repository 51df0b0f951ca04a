//! [`Engine`]: the wired-up application (stores, bus, fleet, gateways) with its services, and
//! [`EngineHandle`], which owns the running loops and stops them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use godel_federation::{Autoscaler, Provisioner};
use godel_lifecycle::GatewayConnector;
use godel_queue::TaskRecord;
use godel_scheduling::Router;
use godel_types::{Clock, Event, EventBody, TaskEvent, TaskEventKind, TaskId, TenantId};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::bus::{BroadcastBus, EventBus, run_audit_writer};
use crate::config::EngineConfig;
use crate::fleet::Fleet;
use crate::leader::{LeaderLease, SingleNode};
use crate::services::{AgentService, InstanceService, SessionService, TaskService};
use crate::stores::Stores;

/// Why a run is being stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// Its lease was recovered elsewhere (failover): stop without touching the queue.
    FailedOver,
    /// The engine is shutting down: give the task back to the queue.
    Shutdown,
    /// A cancel was requested: abort the run on the gateway, so the task ends cancelled.
    Cancelled,
}

/// A run in progress, as the engine can reach it.
pub(crate) struct RunControl {
    /// The fence of the lease being followed: a newer attempt of the same task replaces it.
    pub(crate) fence: u64,
    pub(crate) stop: watch::Sender<Option<StopReason>>,
}

/// What the engine shares between its services, loops and runs.
pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) stores: Stores,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) leader: Arc<dyn LeaderLease>,
    pub(crate) connector: Arc<dyn GatewayConnector>,
    pub(crate) provisioner: Option<Arc<dyn Provisioner>>,
    pub(crate) fleet: Fleet,
    pub(crate) autoscaler: Mutex<Autoscaler>,
    /// Woken by submissions, finished runs and promotions: the dispatcher looks for work.
    pub(crate) wake: Notify,
    /// Woken when a run ends (shutdown waits on it).
    pub(crate) run_ended: Notify,
    pub(crate) accepting: AtomicBool,
    pub(crate) runs: Mutex<HashMap<TaskId, RunControl>>,
}

impl Inner {
    /// Publishes an event about `tenant`'s resources.
    pub(crate) fn publish(&self, tenant: Option<TenantId>, body: EventBody) {
        self.bus.publish(Event::new(tenant, self.clock.now(), body));
    }

    /// Publishes a `task.*` event built from a queue record.
    pub(crate) fn publish_task(
        &self,
        kind: TaskEventKind,
        record: &TaskRecord,
        fill: impl FnOnce(&mut TaskEvent),
    ) {
        let mut data = TaskEvent::new(
            record.id,
            record.status,
            record.priority,
            record.attempt_count,
        );
        data.agent_id.clone_from(&record.assignee);
        data.team_id = record.group.map(godel_types::TeamId::from_uuid);
        data.message = record.last_error.as_deref().map(str::to_owned);
        fill(&mut data);
        self.publish(Some(record.tenant.clone()), EventBody::Task(kind, data));
    }

    pub(crate) fn runs(&self) -> MutexGuard<'_, HashMap<TaskId, RunControl>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Godel's application core. Cheap to clone; every clone is the same engine.
///
/// ```
/// # use std::sync::Arc;
/// # use godel_engine::{Engine, Stores};
/// # #[derive(Debug)] struct NoGateways;
/// # #[async_trait::async_trait]
/// # impl godel_lifecycle::GatewayConnector for NoGateways {
/// #     async fn connect(&self, _: &godel_lifecycle::GatewayTarget)
/// #         -> Result<Arc<dyn godel_lifecycle::Gateway>, godel_lifecycle::GatewayError> {
/// #         Err(godel_lifecycle::GatewayError::unavailable("none"))
/// #     }
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let clock = Arc::new(godel_types::SystemClock);
/// let stores = Stores::in_memory(Default::default(), clock.clone()).unwrap();
/// let engine = Engine::builder(stores, Arc::new(NoGateways)).clock(clock).build();
/// let handle = engine.start();
/// let tenant = godel_types::TenantId::parse("acme").unwrap();
/// let task = engine.tasks().submit(&tenant, serde_json::from_value(
///     serde_json::json!({"payload": {"prompt": "fix the build"}})).unwrap()).await.unwrap();
/// assert_eq!(task.task.status, godel_types::TaskStatus::Pending);
/// handle.shutdown().await;
/// # });
/// ```
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("replica", &self.inner.config.replica)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`]; everything but the stores and the gateway connector has a default.
pub struct EngineBuilder {
    stores: Stores,
    connector: Arc<dyn GatewayConnector>,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    bus: Arc<dyn EventBus>,
    leader: Arc<dyn LeaderLease>,
    provisioner: Option<Arc<dyn Provisioner>>,
}

impl fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBuilder").finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// Sets the configuration.
    #[must_use]
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the clock (it must be the one the stores read).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the event bus (default: in-process).
    #[must_use]
    pub fn bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = bus;
        self
    }

    /// Sets the leader lease (default: single node, always leader).
    #[must_use]
    pub fn leader(mut self, leader: Arc<dyn LeaderLease>) -> Self {
        self.leader = leader;
        self
    }

    /// Sets the provisioner the autoscaler acts through (default: none, autoscaling only
    /// reports).
    #[must_use]
    pub fn provisioner(mut self, provisioner: Arc<dyn Provisioner>) -> Self {
        self.provisioner = Some(provisioner);
        self
    }

    /// The engine, not yet running (see [`Engine::start`]).
    #[must_use]
    pub fn build(self) -> Engine {
        let router = Router::new(self.config.routing.clone());
        let autoscaler = Autoscaler::new(self.config.autoscale.clone());
        Engine {
            inner: Arc::new(Inner {
                fleet: Fleet::new(router),
                autoscaler: Mutex::new(autoscaler),
                config: self.config,
                stores: self.stores,
                clock: self.clock,
                bus: self.bus,
                leader: self.leader,
                connector: self.connector,
                provisioner: self.provisioner,
                wake: Notify::new(),
                run_ended: Notify::new(),
                accepting: AtomicBool::new(true),
                runs: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl Engine {
    /// A builder over `stores`, reaching gateways through `connector`.
    #[must_use]
    pub fn builder(stores: Stores, connector: Arc<dyn GatewayConnector>) -> EngineBuilder {
        EngineBuilder {
            stores,
            connector,
            config: EngineConfig::default(),
            clock: Arc::new(godel_types::SystemClock),
            bus: Arc::new(BroadcastBus::default()),
            leader: Arc::new(SingleNode),
            provisioner: None,
        }
    }

    /// Task use cases.
    #[must_use]
    pub fn tasks(&self) -> TaskService {
        TaskService::new(Arc::clone(&self.inner))
    }

    /// Session use cases.
    #[must_use]
    pub fn sessions(&self) -> SessionService {
        SessionService::new(Arc::clone(&self.inner))
    }

    /// Agent use cases.
    #[must_use]
    pub fn agents(&self) -> AgentService {
        AgentService::new(Arc::clone(&self.inner))
    }

    /// Instance (federation) use cases.
    #[must_use]
    pub fn instances(&self) -> InstanceService {
        InstanceService::new(Arc::clone(&self.inner))
    }

    /// The event bus, to subscribe to every event.
    #[must_use]
    pub fn bus(&self) -> Arc<dyn EventBus> {
        Arc::clone(&self.inner.bus)
    }

    /// Whether it takes new submissions: false once a graceful shutdown began (readiness).
    #[must_use]
    pub fn is_accepting(&self) -> bool {
        self.inner.accepting.load(Ordering::SeqCst)
    }

    /// The stores the engine works on.
    #[must_use]
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// Starts the dispatch loop, the leader duties and the audit writer. Must be called inside
    /// a tokio runtime.
    #[must_use = "dropping the handle leaves the loops running; call shutdown()"]
    pub fn start(&self) -> EngineHandle {
        let (stop_dispatch, dispatch_rx) = watch::channel(false);
        let (stop_duties, duties_rx) = watch::channel(false);
        let (stop_audit, audit_rx) = watch::channel(false);
        let audit = tokio::spawn(run_audit_writer(
            self.inner.bus.subscribe(),
            Arc::clone(&self.inner.stores.events),
            audit_rx,
            256,
        ));
        let dispatch = tokio::spawn(crate::orchestrator::dispatch::run(
            Arc::clone(&self.inner),
            dispatch_rx,
        ));
        let duties = tokio::spawn(crate::orchestrator::duties::run(
            Arc::clone(&self.inner),
            duties_rx,
        ));
        EngineHandle {
            inner: Arc::clone(&self.inner),
            stop_dispatch,
            stop_duties,
            stop_audit,
            loops: vec![dispatch, duties],
            audit,
        }
    }
}

/// The running engine's loops. [`shutdown`](Self::shutdown) drains and stops them.
pub struct EngineHandle {
    inner: Arc<Inner>,
    stop_dispatch: watch::Sender<bool>,
    stop_duties: watch::Sender<bool>,
    stop_audit: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
    audit: JoinHandle<()>,
}

impl fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineHandle")
            .field("loops", &self.loops.len())
            .finish_non_exhaustive()
    }
}

/// What a shutdown did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Runs that finished within the grace period.
    pub finished: usize,
    /// Runs stopped at the deadline whose tasks went back to the queue.
    pub returned: usize,
}

impl EngineHandle {
    /// Graceful shutdown: stop claiming and refuse submissions, let running work finish up to
    /// the configured grace period, give the rest back to the queue (no attempt counted), stop
    /// the duties, flush the audit trail. Every loop has ended when this returns.
    pub async fn shutdown(self) -> ShutdownReport {
        let inner = &self.inner;
        inner.accepting.store(false, Ordering::SeqCst);
        let _ = self.stop_dispatch.send(true);
        let started = inner.runs().len();
        let deadline = tokio::time::Instant::now() + inner.config.shutdown_grace;
        wait_for_runs(inner, Some(deadline)).await;
        let returned = {
            let runs = inner.runs();
            for control in runs.values() {
                let _ = control.stop.send(Some(StopReason::Shutdown));
            }
            runs.len()
        };
        wait_for_runs(inner, None).await;
        let _ = self.stop_duties.send(true);
        for handle in self.loops {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "engine loop ended abnormally");
            }
        }
        let _ = inner.leader.release(&inner.config.replica).await;
        let _ = self.stop_audit.send(true);
        if let Err(e) = self.audit.await {
            tracing::error!(error = %e, "audit writer ended abnormally");
        }
        ShutdownReport {
            finished: started.saturating_sub(returned),
            returned,
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Waits until no run is in progress, or until `deadline`.
async fn wait_for_runs(inner: &Inner, deadline: Option<tokio::time::Instant>) {
    loop {
        let ended = inner.run_ended.notified();
        if inner.runs().is_empty() {
            return;
        }
        match deadline {
            Some(d) => {
                if tokio::time::timeout_at(d, ended).await.is_err() {
                    return;
                }
            }
            None => {
                // A run that ignores its stop signal still ends by its own timeouts; poll
                // rarely so a lost wake-up cannot hang shutdown.
                let _ = tokio::time::timeout(Duration::from_secs(1), ended).await;
            }
        }
    }
}
