//! Fixtures shared by the http test binaries (each support module includes this with
//! `#[path]`): the fake gateway fleet, an in-memory engine over it, a tenant id, a server on a
//! random loopback port, and polling until something holds.

#![allow(dead_code, unreachable_pub)]

pub mod gateway;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use godel_engine::{BroadcastBus, Engine, Stores, TokioClock};
use godel_queue::QueueConfig;
use godel_types::TenantId;
use tokio::net::TcpListener;

#[allow(unused_imports, reason = "not every test binary names every fixture")]
pub use gateway::{Behaviour, FakeFleet, FakeGateway};

/// How long [`eventually`] waits for something it expects before failing the test.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// An engine over memory stores and `fleet`, publishing on `bus` (the default one if `None`).
/// Its loops are not started.
pub fn engine(fleet: Arc<FakeFleet>, bus: Option<BroadcastBus>) -> Engine {
    let clock = Arc::new(TokioClock::default());
    let stores = Stores::in_memory(QueueConfig::default(), clock.clone()).unwrap();
    let builder = Engine::builder(stores, fleet).clock(clock);
    match bus {
        Some(bus) => builder.bus(Arc::new(bus)).build(),
        None => builder.build(),
    }
}

/// A tenant id.
pub fn tenant_id(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// A listener on a random loopback port, and its address.
pub async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Serves `app` on a random loopback port until the test ends.
pub async fn serve(app: Router) -> SocketAddr {
    let (listener, addr) = bind().await;
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// Polls `check` every 50 ms until it answers `Some`, failing the test after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
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
