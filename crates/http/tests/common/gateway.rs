//! One fake OpenClaw gateway for every http test: each instance has a [`Behaviour`] chosen when
//! it is registered (complete after streaming, fail, or hold until aborted) and a health answer
//! a test can change; [`FakeFleet`] hands them out by endpoint.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use godel_lifecycle::{
    Gateway, GatewayAgent, GatewayConnector, GatewayError, GatewayHealth, GatewaySession,
    GatewaySessionInfo, GatewayTarget, RunEvent, RunEvents, RunFailure, RunHandle, RunId,
    RunRequest, RunWait, SessionKey,
};
use tokio::sync::mpsc;

/// What a fake gateway does with every run it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Streams a little text, then completes, 100 ms after the start.
    Complete,
    /// Fails at once, not retryable.
    Fail,
    /// Runs until aborted.
    Hold,
}

impl Behaviour {
    /// The behaviour an endpoint's host names: `ws://complete-*` completes, `ws://fail-*`
    /// fails, anything else holds.
    pub fn of(endpoint: &str) -> Self {
        let host = endpoint.trim_start_matches("ws://");
        if host.starts_with("complete") {
            Self::Complete
        } else if host.starts_with("fail") {
            Self::Fail
        } else {
            Self::Hold
        }
    }
}

/// A gateway with one agent, `main`, that runs as its [`Behaviour`] says while it is healthy
/// and refuses health probes, sessions and runs while it is not.
#[derive(Debug)]
pub struct FakeGateway {
    behaviour: Behaviour,
    healthy: AtomicBool,
    runs: Mutex<HashMap<RunId, mpsc::UnboundedSender<RunEvent>>>,
}

impl FakeGateway {
    /// A healthy gateway behaving as `behaviour`.
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            healthy: AtomicBool::new(true),
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// How it runs.
    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
    }

    /// Stops (false) or restarts (true) answering.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    fn up(&self) -> Result<(), GatewayError> {
        if self.healthy.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(GatewayError::unavailable("fake gateway down"))
        }
    }
}

#[async_trait]
impl Gateway for FakeGateway {
    async fn health(&self) -> Result<GatewayHealth, GatewayError> {
        self.up()?;
        let agents = vec![GatewayAgent {
            id: "main".into(),
            sessions: 0,
        }];
        Ok(GatewayHealth {
            ok: true,
            degraded: false,
            agents,
            sessions: 0,
        })
    }

    async fn ensure_session(
        &self,
        key: &SessionKey,
        _agent: &str,
    ) -> Result<GatewaySession, GatewayError> {
        self.up()?;
        Ok(GatewaySession {
            key: key.clone(),
            gateway_id: None,
            created: true,
        })
    }

    async fn start_run(&self, request: RunRequest) -> Result<RunHandle, GatewayError> {
        self.up()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(RunEvent::Started);
        match self.behaviour {
            Behaviour::Complete => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = tx.send(RunEvent::Delta {
                        text: "done".into(),
                    });
                    let _ = tx.send(RunEvent::Completed { reply: None });
                });
            }
            Behaviour::Fail => {
                let _ = tx.send(RunEvent::Failed(RunFailure {
                    message: "scripted failure".into(),
                    kind: None,
                    retryable: false,
                }));
            }
            Behaviour::Hold => {}
        }
        self.runs
            .lock()
            .map_err(|_| GatewayError::unavailable("poisoned"))?
            .insert(request.run.clone(), tx);
        Ok(RunHandle {
            run: request.run,
            resumed: false,
            events: Box::new(Events(rx)),
        })
    }

    async fn wait(&self, _run: &RunId, _timeout: Duration) -> Result<RunWait, GatewayError> {
        Err(GatewayError::unavailable("the fake cannot confirm"))
    }

    async fn abort(&self, _key: &SessionKey, run: Option<&RunId>) -> Result<bool, GatewayError> {
        if let Some(run) = run
            && let Ok(runs) = self.runs.lock()
            && let Some(tx) = runs.get(run)
        {
            let _ = tx.send(RunEvent::Aborted);
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

/// The event stream of one fake run.
struct Events(mpsc::UnboundedReceiver<RunEvent>);

#[async_trait]
impl RunEvents for Events {
    async fn next(&mut self) -> Option<RunEvent> {
        self.0.recv().await
    }
}

/// Hands out one fake gateway per endpoint: the one [`FakeFleet::add`] registered there, or
/// else a new healthy one behaving as the endpoint's host names ([`Behaviour::of`]).
#[derive(Debug, Default)]
pub struct FakeFleet {
    gateways: Mutex<HashMap<String, Arc<FakeGateway>>>,
}

impl FakeFleet {
    /// Registers a gateway behaving as `behaviour`, answering or not, at `endpoint`.
    pub fn add(&self, endpoint: &str, behaviour: Behaviour, healthy: bool) -> Arc<FakeGateway> {
        let gateway = Arc::new(FakeGateway::new(behaviour));
        gateway.set_healthy(healthy);
        self.gateways
            .lock()
            .unwrap()
            .insert(endpoint.to_owned(), gateway.clone());
        gateway
    }

    /// The gateway at `endpoint`, if one was registered or connected to.
    pub fn get(&self, endpoint: &str) -> Option<Arc<FakeGateway>> {
        self.gateways.lock().unwrap().get(endpoint).cloned()
    }
}

#[async_trait]
impl GatewayConnector for FakeFleet {
    async fn connect(&self, target: &GatewayTarget) -> Result<Arc<dyn Gateway>, GatewayError> {
        let mut gateways = self
            .gateways
            .lock()
            .map_err(|_| GatewayError::unavailable("poisoned"))?;
        let gateway = gateways
            .entry(target.endpoint.clone())
            .or_insert_with(|| Arc::new(FakeGateway::new(Behaviour::of(&target.endpoint))));
        Ok(Arc::clone(gateway) as Arc<dyn Gateway>)
    }
}
