//! `godel-openclaw`: Godel's grip on OpenClaw gateways.
//!
//! - the gateway client: [`Gateway`](godel_lifecycle::Gateway) and
//!   [`GatewayConnector`](godel_lifecycle::GatewayConnector) over the gateway's WebSocket
//!   protocol (v4, `../shared/OPENCLAW.md`);
//! - the daemon launcher, which starts a gateway when none answers;
//! - a [`Provisioner`](godel_federation::Provisioner) for real gateway processes on loopback.
//!
//! The simulator that speaks the same protocol is the separate crate `godel-openclaw-sim`.

pub mod client;
pub mod error;
pub mod launcher;
pub mod protocol;
pub mod provision;

pub use self::client::{OpenClawConfig, OpenClawConnector, OpenClawGateway};
pub use self::launcher::{DaemonLauncher, LaunchOutcome, LaunchedGateway, LauncherConfig};
pub use self::provision::{
    GatewayCommand, GatewayProcessStats, LocalProcessProvisioner, LocalProvisionerConfig,
    ModelProvider,
};
