//! [`SimFleet`]: several simulated gateways in one process, for load tests and `--dev` servers.

use std::io;

use crate::config::SimConfig;
use crate::gateway::{SimGateway, Simulator};

/// A group of simulated gateways started together. Each gets its own seed (the configured seed
/// plus its index), so injected failures differ between gateways but repeat between test runs.
#[derive(Debug)]
pub struct SimFleet {
    gateways: Vec<SimGateway>,
}

impl SimFleet {
    /// Starts `n` gateways on free ports.
    ///
    /// # Errors
    /// When a listener cannot be bound; the gateways already started are stopped.
    pub async fn start(n: usize, config: SimConfig) -> io::Result<SimFleet> {
        Self::start_on(n, config, 0).await
    }

    /// Starts `n` gateways on ports `base_port`, `base_port + 1`, …; `base_port` 0 means free
    /// ports.
    ///
    /// # Errors
    /// When a listener cannot be bound (or the ports would pass 65535); the gateways already
    /// started are stopped.
    pub async fn start_on(n: usize, config: SimConfig, base_port: u16) -> io::Result<SimFleet> {
        let mut gateways = Vec::with_capacity(n);
        for i in 0..n {
            let port = if base_port == 0 {
                0
            } else {
                u16::try_from(i)
                    .ok()
                    .and_then(|i| base_port.checked_add(i))
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "port out of range")
                    })?
            };
            let mut gateway_config = config.clone();
            gateway_config.seed = config.seed.wrapping_add(i as u64);
            gateways.push(Simulator::start_on(gateway_config, port).await?);
        }
        Ok(SimFleet { gateways })
    }

    /// The gateways, in start order.
    pub fn gateways(&self) -> &[SimGateway] {
        &self.gateways
    }

    /// The WebSocket endpoints, in start order.
    pub fn endpoints(&self) -> Vec<String> {
        self.gateways.iter().map(SimGateway::endpoint).collect()
    }

    /// Number of gateways.
    pub fn len(&self) -> usize {
        self.gateways.len()
    }

    /// Whether the fleet has no gateway.
    pub fn is_empty(&self) -> bool {
        self.gateways.is_empty()
    }

    /// Shuts every gateway down gracefully, concurrently.
    pub async fn shutdown(self) {
        futures_util::future::join_all(self.gateways.into_iter().map(SimGateway::shutdown)).await;
    }
}
