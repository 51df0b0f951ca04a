//! Test fixtures: a scripted fake gateway (and its connector) and an engine wired to memory
//! stores with a clock that follows tokio's paused time.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use godel_engine::{Engine, EngineConfig, EngineHandle, Stores, SubmitTask, TokioClock};
use godel_federation::{Instance, InstanceSpec};
use godel_lifecycle::{
    Gateway, GatewayAgent, GatewayConnector, GatewayError, GatewayHealth, GatewaySession,
    GatewaySessionInfo, GatewayTarget, RunEvent, RunEvents, RunFailure, RunHandle, RunId,
    RunRequest, RunWait, SessionKey,
};
use godel_queue::QueueConfig;
use godel_types::{Capabilities, TenantId};
use time::macros::datetime;
use tokio::sync::mpsc;

/// How a fake gateway answers runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every run completes after this long.
    Complete(Duration),
    /// Runs wait for the test to end them.
    Manual,
}

/// A run the fake gateway started.
#[derive(Debug, Clone)]
pub struct Started {
    pub endpoint: String,
    pub request: RunRequest,
}

/// A scripted gateway.
#[derive(Debug)]
pub struct FakeGateway {
    pub endpoint: String,
    mode: Mutex<Mode>,
    healthy: AtomicBool,
    runs: Mutex<HashMap<RunId, mpsc::UnboundedSender<RunEvent>>>,
    started: mpsc::UnboundedSender<Started>,
    pub aborts: AtomicU32,
    pub sessions_opened: AtomicU32,
}

impl FakeGateway {
    /// Stops (false) or restarts (true) answering health probes and runs.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    /// Ends a manual run with `event`.
    pub fn finish(&self, run: &RunId, event: RunEvent) -> bool {
        let runs = self.runs.lock().unwrap();
        runs.get(run).is_some_and(|tx| tx.send(event).is_ok())
    }
}

#[async_trait]
impl Gateway for FakeGateway {
    async fn health(&self) -> Result<GatewayHealth, GatewayError> {
        if !self.healthy.load(Ordering::SeqCst) {
            return Err(GatewayError::unavailable("fake gateway down"));
        }
        Ok(GatewayHealth {
            ok: true,
            degraded: false,
            agents: vec![GatewayAgent {
                id: "main".into(),
                sessions: 0,
            }],
            sessions: 0,
        })
    }

    async fn ensure_session(
        &self,
        key: &SessionKey,
        _agent: &str,
    ) -> Result<GatewaySession, GatewayError> {
        if !self.healthy.load(Ordering::SeqCst) {
            return Err(GatewayError::unavailable("fake gateway down"));
        }
        self.sessions_opened.fetch_add(1, Ordering::SeqCst);
        Ok(GatewaySession {
            key: key.clone(),
            gateway_id: None,
            created: true,
        })
    }

    async fn start_run(&self, request: RunRequest) -> Result<RunHandle, GatewayError> {
        if !self.healthy.load(Ordering::SeqCst) {
            return Err(GatewayError::unavailable("fake gateway down"));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(RunEvent::Started);
        self.runs
            .lock()
            .unwrap()
            .insert(request.run.clone(), tx.clone());
        let _ = self.started.send(Started {
            endpoint: self.endpoint.clone(),
            request: request.clone(),
        });
        if let Mode::Complete(after) = *self.mode.lock().unwrap() {
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = tx.send(RunEvent::Delta {
                    text: "done".into(),
                });
                let _ = tx.send(RunEvent::Completed { reply: None });
            });
        }
        Ok(RunHandle {
            run: request.run,
            resumed: false,
            events: Box::new(Events(rx)),
        })
    }

    async fn wait(&self, _run: &RunId, _timeout: Duration) -> Result<RunWait, GatewayError> {
        Err(GatewayError::unavailable("fake gateway cannot confirm"))
    }

    async fn abort(&self, _key: &SessionKey, run: Option<&RunId>) -> Result<bool, GatewayError> {
        self.aborts.fetch_add(1, Ordering::SeqCst);
        if let Some(run) = run {
            self.finish(run, RunEvent::Aborted);
        }
        Ok(true)
    }

    async fn close_session(&self, _key: &SessionKey) -> Result<(), GatewayError> {
        Ok(())
    }

    async fn list_sessions(&self, _limit: u32) -> Result<Vec<GatewaySessionInfo>, GatewayError> {
        Ok(Vec::new())
    }
}

struct Events(mpsc::UnboundedReceiver<RunEvent>);

#[async_trait]
impl RunEvents for Events {
    async fn next(&mut self) -> Option<RunEvent> {
        self.0.recv().await
    }
}

/// Hands out fake gateways by endpoint.
#[derive(Debug)]
pub struct FakeFleet {
    gateways: Mutex<HashMap<String, Arc<FakeGateway>>>,
    started_tx: mpsc::UnboundedSender<Started>,
}

#[async_trait]
impl GatewayConnector for FakeFleet {
    async fn connect(&self, target: &GatewayTarget) -> Result<Arc<dyn Gateway>, GatewayError> {
        let gateways = self.gateways.lock().unwrap();
        match gateways.get(&target.endpoint) {
            Some(g) => Ok(Arc::clone(g) as Arc<dyn Gateway>),
            None => Err(GatewayError::Protocol(format!(
                "no fake at {}",
                target.endpoint
            ))),
        }
    }
}

/// An engine over memory stores and fake gateways, with helpers to drive it.
pub struct World {
    pub engine: Engine,
    pub handle: Option<EngineHandle>,
    pub fleet: Arc<FakeFleet>,
    pub started: mpsc::UnboundedReceiver<Started>,
    pub tenant: TenantId,
}

impl World {
    /// A running engine with default configuration and no instances yet.
    pub fn new() -> Self {
        Self::with_config(EngineConfig::default())
    }

    pub fn with_config(config: EngineConfig) -> Self {
        let clock = Arc::new(TokioClock::starting_at(datetime!(2026-01-01 0:00 UTC)));
        let stores = Stores::in_memory(QueueConfig::default(), clock.clone()).unwrap();
        let (started_tx, started) = mpsc::unbounded_channel();
        let fleet = Arc::new(FakeFleet {
            gateways: Mutex::new(HashMap::new()),
            started_tx,
        });
        let engine = Engine::builder(stores, fleet.clone())
            .clock(clock)
            .config(config)
            .build();
        let handle = Some(engine.start());
        Self {
            engine,
            handle,
            fleet,
            started,
            tenant: TenantId::parse("acme").unwrap(),
        }
    }

    /// Adds a fake gateway and registers it as an instance (its agent `main` is discovered).
    pub async fn add_instance(
        &self,
        name: &str,
        capabilities: &[&str],
        max_sessions: u32,
        mode: Mode,
    ) -> (Arc<FakeGateway>, Instance) {
        let endpoint = format!("ws://{name}.test:1");
        let gateway = Arc::new(FakeGateway {
            endpoint: endpoint.clone(),
            mode: Mutex::new(mode),
            healthy: AtomicBool::new(true),
            runs: Mutex::new(HashMap::new()),
            started: self.fleet.started_tx.clone(),
            aborts: AtomicU32::new(0),
            sessions_opened: AtomicU32::new(0),
        });
        self.fleet
            .gateways
            .lock()
            .unwrap()
            .insert(endpoint.clone(), gateway.clone());
        let mut spec = InstanceSpec::new(endpoint, max_sessions);
        spec.capabilities = Capabilities::parse(capabilities.iter().copied()).unwrap();
        let instance = self.engine.instances().register(spec).await.unwrap();
        (gateway, instance)
    }

    /// Submits a task with `prompt` and the extra fields of `with`.
    pub async fn submit(
        &self,
        prompt: &str,
        with: impl FnOnce(&mut SubmitTask),
    ) -> godel_engine::Task {
        let mut request = SubmitTask {
            payload: serde_json::json!({ "prompt": prompt }),
            ..SubmitTask::default()
        };
        with(&mut request);
        self.engine
            .tasks()
            .submit(&self.tenant, request)
            .await
            .unwrap()
            .task
    }

    /// The next run any fake gateway started (virtual time moves on while waiting).
    pub async fn next_started(&mut self) -> Started {
        tokio::time::timeout(Duration::from_secs(600), self.started.recv())
            .await
            .expect("a run should start within 10 virtual minutes")
            .expect("fakes are alive")
    }

    /// Waits (in virtual time) until `condition` holds, or fails the test after `limit`.
    pub async fn until<F, Fut>(&self, limit: Duration, what: &str, mut condition: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + limit;
        while !condition().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the engine.
    pub async fn shutdown(&mut self) -> godel_engine::ShutdownReport {
        self.handle.take().unwrap().shutdown().await
    }
}

/// The prompt of a started run.
pub fn prompt(started: &Started) -> &str {
    &started.request.message
}

/// A retryable failure event.
pub fn failure(message: &str) -> RunEvent {
    RunEvent::Failed(RunFailure {
        message: message.into(),
        kind: None,
        retryable: true,
    })
}
