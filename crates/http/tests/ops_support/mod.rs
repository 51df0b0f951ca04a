//! Fixtures of the ops and events tests: an engine over memory stores with the shared fake
//! gateways (`common`), fake health probes, an [`AppState`] over them, a layer standing in for
//! the auth middleware, and (from `common`) a server on a random port.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use godel_engine::{BroadcastBus, Engine, SubmitTask, Task};
use godel_federation::{Instance, InstanceSpec};
use godel_http::auth::Credential;
use godel_http::{AppState, HealthProbe, HttpOptions, Principal, Role};

#[path = "../common/mod.rs"]
pub mod common;

use common::Behaviour;
#[allow(unused_imports, reason = "not every test binary names every fixture")]
pub use common::{FakeFleet, FakeGateway, serve, tenant_id};

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
        let fleet = Arc::new(FakeFleet::default());
        let engine = common::engine(fleet.clone(), Some(bus));
        Self { engine, fleet }
    }

    /// Adds a fake gateway, answering or not, and registers it as an instance (probed once).
    /// Its runs hold (none start: the engine's loops are not started).
    pub async fn add_instance(&self, name: &str, healthy: bool) -> (Arc<FakeGateway>, Instance) {
        let endpoint = format!("ws://{name}.test:1");
        let gateway = self.fleet.add(&endpoint, Behaviour::Hold, healthy);
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
