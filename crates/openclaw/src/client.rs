//! The gateway client: [`OpenClawGateway`] implements the [`Gateway`] port over one WebSocket
//! connection per gateway, and [`OpenClawConnector`] hands them out as a [`GatewayConnector`].
//!
//! A background task (an actor, `connection`) owns each connection: it does the handshake
//! (`handshake`), correlates requests and responses (`pending`), routes run events to the
//! followed runs and reconciles them (`runs`), watches `tick` liveness and reconnects with
//! backoff and jitter (`backoff`), resuming the runs it follows. Handles talk to it through a
//! bounded channel; no lock is held across an `.await`.
//!
//! Architecture invariant: nothing here knows about tasks, queues or the engine; the client
//! translates the port to protocol v4 and back, and a socket closing is never reported as a
//! run failure (only as [`RunEvent::Lost`](godel_lifecycle::RunEvent::Lost) when the run's
//! end cannot be confirmed).

mod backoff;
mod config;
mod connection;
mod gateway;
mod handshake;
mod pending;
mod runs;
mod socket;
mod trace;

use std::sync::Arc;

use async_trait::async_trait;
use godel_lifecycle::{Gateway, GatewayConnector, GatewayError, GatewayTarget};

pub use self::config::OpenClawConfig;
pub use self::connection::ConnectionStatus;
pub use self::gateway::OpenClawGateway;

/// Makes [`OpenClawGateway`]s with one configuration. Lazy: a client is returned even when
/// the gateway is down (its calls fail with [`GatewayError::Unavailable`] until it answers).
#[derive(Debug, Clone, Default)]
pub struct OpenClawConnector {
    config: OpenClawConfig,
}

impl OpenClawConnector {
    /// A connector whose clients use `config`.
    #[must_use]
    pub fn new(config: OpenClawConfig) -> Self {
        Self { config }
    }

    /// The configuration its clients use.
    #[must_use]
    pub fn config(&self) -> &OpenClawConfig {
        &self.config
    }
}

#[async_trait]
impl GatewayConnector for OpenClawConnector {
    async fn connect(&self, target: &GatewayTarget) -> Result<Arc<dyn Gateway>, GatewayError> {
        let gateway = OpenClawGateway::connect(target, self.config.clone())?;
        Ok(Arc::new(gateway))
    }
}
