//! Fixtures of the ops and events tests: an engine over memory stores with fake gateways (copied
//! down from `crates/engine/tests/support`), fake health probes, an [`AppState`] over them, a
//! layer standing in for the auth middleware, and a server on a random port.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use godel_engine::{BroadcastBus, Engine, Stores, SubmitTask, Task};
use godel_federation::{Instance, InstanceSpec};
use godel_http::auth::Credential;
use godel_http::{AppState, HealthProbe, HttpOptions, Principal, Role};
use godel_lifecycle::{
    Gateway, GatewayAgent, GatewayConnector, GatewayError, GatewayHealth, GatewaySession,
    GatewaySessionInfo, GatewayTarget, RunHandle, RunId, RunRequest, RunWait, SessionKey,
};
use godel_queue::QueueConfig;
use godel_types::{SystemClock, TenantId};

/// A gateway that answers health probes while healthy and runs nothing.
#[derive(Debug)]
pub struct FakeGateway {
    healthy: AtomicBool,
}

impl FakeGateway {
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
        self.up()?;
        Ok(GatewaySession {
            key: key.clone(),
            gateway_id: None,
            created: true,
        })
    }

    async fn start_run(&self, _request: RunRequest) -> Result<RunHandle, GatewayError> {
        Err(GatewayError::unavailable("the fake gateway runs nothing"))
    }

    async fn wait(&self, _run: &RunId, _timeout: Duration) -> Result<RunWait, GatewayError> {
        Err(GatewayError::unavailable("the fake gateway runs nothing"))
    }

    async fn abort(&self, _key: &SessionKey, _run: Option<&RunId>) -> Result<bool, GatewayError> {
        Ok(false)
    }

    async fn close_session(&self, _key: &SessionKey) -> Result<(), GatewayError> {
        Ok(())
    }

    async fn list_sessions(&self, _limit: u32) -> Result<Vec<GatewaySessionInfo>, GatewayError> {
        Ok(Vec::new())
    }
}

/// Hands out fake gateways by endpoint.
#[derive(Debug, Default)]
pub struct FakeFleet {
    gateways: Mutex<HashMap<String, Arc<FakeGateway>>>,
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

/// An engine over memory stores and fake gateways. Its loops are not started: submitted tasks
/// stay pending, which is what these tests observe.
pub struct World {
    pub engine: Engine,
    pub fleet: Arc<FakeFleet>,
}

impl World {
    /// An engine with the default bus.
    pub fn new() -> Self {
        Self::with_bus(BroadcastBus::default())
    }

    /// An engine publishing on `bus`.
    pub fn with_bus(bus: BroadcastBus) -> Self {
        let clock = Arc::new(SystemClock);
        let stores = Stores::in_memory(QueueConfig::default(), clock.clone()).unwrap();
        let fleet = Arc::new(FakeFleet::default());
        let engine = Engine::builder(stores, fleet.clone())
            .clock(clock)
            .bus(Arc::new(bus))
            .build();
        Self { engine, fleet }
    }

    /// Adds a fake gateway, answering or not, and registers it as an instance (probed once).
    pub async fn add_instance(&self, name: &str, healthy: bool) -> (Arc<FakeGateway>, Instance) {
        let endpoint = format!("ws://{name}.test:1");
        let gateway = Arc::new(FakeGateway {
            healthy: AtomicBool::new(healthy),
        });
        self.fleet
            .gateways
            .lock()
            .unwrap()
            .insert(endpoint.clone(), gateway.clone());
        let instance = self
            .engine
            .instances()
            .register(InstanceSpec::new(endpoint, 4))
            .await
            .unwrap();
        (gateway, instance)
    }

    /// Submits a task for `tenant`.
    pub async fn submit(&self, tenant: &str, prompt: &str) -> Task {
        let request = SubmitTask {
            payload: serde_json::json!({ "prompt": prompt }),
            ..SubmitTask::default()
        };
        self.engine
            .tasks()
            .submit(&tenant_id(tenant), request)
            .await
            .unwrap()
            .task
    }
}

/// A tenant id.
pub fn tenant_id(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// How a [`FakeProbe`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// At once, fine.
    Healthy,
    /// At once, with an error.
    Fail,
    /// Never.
    Hang,
}

/// A dependency probe answering as told.
#[derive(Debug)]
pub struct FakeProbe {
    pub name: &'static str,
    pub critical: bool,
    pub answer: Answer,
}

impl FakeProbe {
    /// A probe as an [`Arc<dyn HealthProbe>`].
    pub fn arc(name: &'static str, critical: bool, answer: Answer) -> Arc<dyn HealthProbe> {
        Arc::new(Self {
            name,
            critical,
            answer,
        })
    }
}

#[async_trait]
impl HealthProbe for FakeProbe {
    fn name(&self) -> &'static str {
        self.name
    }

    fn critical(&self) -> bool {
        self.critical
    }

    async fn probe(&self) -> Result<(), String> {
        match self.answer {
            Answer::Healthy => Ok(()),
            Answer::Fail => Err(format!("{} refused the connection", self.name)),
            Answer::Hang => std::future::pending().await,
        }
    }
}

/// Options with a short probe timeout and the given WebSocket settings.
pub fn options(ws_ping_interval: Duration, ws_buffer: usize) -> HttpOptions {
    HttpOptions {
        probe_timeout: Duration::from_millis(200),
        ws_ping_interval,
        ws_buffer,
        ..HttpOptions::default()
    }
}

/// The state of a server over `world`.
pub fn state(
    world: &World,
    options: HttpOptions,
    probes: Vec<Arc<dyn HealthProbe>>,
) -> godel_http::AppStateBuilder {
    let mut builder = AppState::builder(world.engine.clone())
        .options(options)
        .version("9.9.9-test");
    for probe in probes {
        builder = builder.probe(probe);
    }
    builder
}

/// Stands in for the auth middleware: `?tenant=<name>` makes the request a viewer of that
/// tenant; without it there is no principal (and `/events` answers 401).
pub fn with_test_principal(router: Router<AppState>) -> Router<AppState> {
    router.layer(middleware::from_fn(
        |mut request: Request, next: Next| async move {
            let tenant = request.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|pair| pair.strip_prefix("tenant="))
                    .map(str::to_owned)
            });
            if let Some(tenant) = tenant {
                request.extensions_mut().insert(Principal {
                    tenant: tenant_id(&tenant),
                    role: Role::Viewer,
                    credential: Credential::Jwt {
                        subject: "test".into(),
                        jti: "test".into(),
                    },
                });
            }
            let response: Response = next.run(request).await;
            response
        },
    ))
}

/// Serves `app` on a random local port until the test ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}
