//! Fixtures of the client tests: the real router served on `127.0.0.1:0` over an in-memory
//! engine whose gateways are scripted fakes (copied in spirit from the engine's tests), and
//! API keys per role made with `godel_http::create_api_key`.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use godel_engine::{Engine, EngineHandle, Stores, TokioClock};
use godel_http::client::Client;
use godel_http::{AppState, Role, create_api_key};
use godel_lifecycle::{
    Gateway, GatewayAgent, GatewayConnector, GatewayError, GatewayHealth, GatewaySession,
    GatewaySessionInfo, GatewayTarget, RunEvent, RunEvents, RunFailure, RunHandle, RunId,
    RunRequest, RunWait, SessionKey,
};
use godel_queue::QueueConfig;
use godel_types::TenantId;
use tokio::sync::{mpsc, oneshot};

/// How long a test waits for something it expects before failing.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// What a fake gateway does with a run, chosen by the instance's endpoint host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `ws://complete-*`: completes after 100 ms.
    Complete,
    /// `ws://fail-*`: fails at once, not retryable.
    Fail,
    /// Anything else: runs until aborted.
    Hold,
}

impl Mode {
    fn of(endpoint: &str) -> Self {
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

/// A healthy gateway with one agent, `main`, running every run as its [`Mode`] says.
#[derive(Debug)]
struct FakeGateway {
    mode: Mode,
    runs: Mutex<HashMap<RunId, mpsc::UnboundedSender<RunEvent>>>,
}

#[async_trait]
impl Gateway for FakeGateway {
    async fn health(&self) -> Result<GatewayHealth, GatewayError> {
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
        Ok(GatewaySession {
            key: key.clone(),
            gateway_id: None,
            created: true,
        })
    }

    async fn start_run(&self, request: RunRequest) -> Result<RunHandle, GatewayError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(RunEvent::Started);
        match self.mode {
            Mode::Complete => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = tx.send(RunEvent::Completed { reply: None });
                });
            }
            Mode::Fail => {
                let _ = tx.send(RunEvent::Failed(RunFailure {
                    message: "scripted failure".into(),
                    kind: None,
                    retryable: false,
                }));
            }
            Mode::Hold => {}
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

struct Events(mpsc::UnboundedReceiver<RunEvent>);

#[async_trait]
impl RunEvents for Events {
    async fn next(&mut self) -> Option<RunEvent> {
        self.0.recv().await
    }
}

/// Hands out one fake gateway per endpoint.
#[derive(Debug, Default)]
struct FakeFleet {
    gateways: Mutex<HashMap<String, Arc<FakeGateway>>>,
}

#[async_trait]
impl GatewayConnector for FakeFleet {
    async fn connect(&self, target: &GatewayTarget) -> Result<Arc<dyn Gateway>, GatewayError> {
        let mut gateways = self
            .gateways
            .lock()
            .map_err(|_| GatewayError::unavailable("poisoned"))?;
        let gateway = gateways.entry(target.endpoint.clone()).or_insert_with(|| {
            Arc::new(FakeGateway {
                mode: Mode::of(&target.endpoint),
                runs: Mutex::new(HashMap::new()),
            })
        });
        Ok(Arc::clone(gateway) as Arc<dyn Gateway>)
    }
}

/// A served application.
pub struct Server {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its state (to make keys).
    pub state: AppState,
    /// The tenant keys are made for.
    pub tenant: TenantId,
    engine: Option<EngineHandle>,
    stop: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Serves the real router over a running in-memory engine on a random loopback port.
    pub async fn start() -> Self {
        let clock = Arc::new(TokioClock::default());
        let stores = Stores::in_memory(QueueConfig::default(), clock.clone()).unwrap();
        let engine = Engine::builder(stores, Arc::new(FakeFleet::default()))
            .clock(clock)
            .build();
        let handle = engine.start();
        let state = AppState::builder(engine).build().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serve_state = state.clone();
        tokio::spawn(async move {
            let _ = godel_http::serve(listener, serve_state, async {
                let _ = stopped.await;
            })
            .await;
        });
        Self {
            url: format!("http://{addr}"),
            state,
            tenant: TenantId::parse("acme").unwrap(),
            engine: Some(handle),
            stop: Some(stop),
        }
    }

    /// A new API key of `role` for the default tenant.
    pub async fn key(&self, role: Role) -> String {
        create_api_key(&self.state, &self.tenant, "client-test", role)
            .await
            .unwrap()
            .0
    }

    /// A client authenticated with a new key of `role`.
    pub async fn client(&self, role: Role) -> Client {
        Client::try_new(&self.url, Some(self.key(role).await)).unwrap()
    }

    /// Stops serving and the engine.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.engine.take() {
            handle.shutdown().await;
        }
    }
}

/// Polls `check` every 50 ms until it answers `Some`, failing the test after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
