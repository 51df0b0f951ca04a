//! Fixtures of the client tests: the real router served on `127.0.0.1:0` over a running
//! in-memory engine whose gateways are the shared fakes of `common` (each behaving as its
//! endpoint's host names: `ws://complete-*`, `ws://fail-*`, anything else holds), and API keys
//! per role made with `godel_http::create_api_key`.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use godel_engine::EngineHandle;
use godel_http::client::Client;
use godel_http::{AppState, Role, create_api_key};
use godel_types::TenantId;
use tokio::sync::oneshot;

#[path = "../common/mod.rs"]
pub mod common;

use common::{FakeFleet, tenant_id};
pub use common::{PATIENCE, eventually};

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
        let engine = common::engine(Arc::new(FakeFleet::default()), None);
        let handle = engine.start();
        let state = AppState::builder(engine).build().unwrap();
        let (listener, addr) = common::bind().await;
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
            tenant: tenant_id("acme"),
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
