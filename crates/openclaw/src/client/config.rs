//! [`OpenClawConfig`]: timeouts, backoff, liveness and identity of the gateway client.

use std::time::Duration;

use crate::protocol::{DEFAULT_CAPS, DEFAULT_SCOPES};

/// Settings of the gateway client. Every duration is configurable so tests can use
/// milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenClawConfig {
    /// How long a request may wait for its response (10 s). `wait` adds its own timeout on top.
    pub request_timeout: Duration,
    /// How long opening the socket, and then the handshake, may each take (10 s).
    pub connect_timeout: Duration,
    /// How many `UNAVAILABLE` answers to `connect` (a gateway still booting) are retried
    /// within one connection attempt, each after the gateway's `retryAfterMs` (20).
    pub handshake_retries: u32,
    /// First reconnect delay (1 s); doubled per failed attempt.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (30 s).
    pub backoff_max: Duration,
    /// Random spread of each delay, as a fraction of it (0.2 = ±20 %).
    pub backoff_jitter: f64,
    /// Tick intervals (`policy.tickIntervalMs`) that may pass without any frame before the
    /// connection is declared dead (2; half an interval of slack is added).
    pub missed_ticks: u32,
    /// `timeoutMs` of the `agent.wait` sent after a reconnect for each run still followed,
    /// to learn whether it ended while disconnected (1 s).
    pub confirm_timeout: Duration,
    /// How often a run is confirmed again while `agent.wait` says it still runs but none of
    /// its events came since (5 s): a gateway that crashed and restarted forgets runs, answers
    /// `timeout` for them, and shows their session idle; such a run ends with
    /// [`RunEvent::Lost`](godel_lifecycle::RunEvent::Lost).
    pub recheck_interval: Duration,
    /// How long followed runs wait for a reconnect before their streams end with
    /// [`RunEvent::Lost`](godel_lifecycle::RunEvent::Lost) (60 s).
    pub resume_window: Duration,
    /// `client.version` sent in `connect`.
    pub client_version: String,
    /// `client.displayName` sent in `connect` (`godel`).
    pub display_name: String,
    /// Scopes asked for (`operator.read`, `operator.write`, `operator.admin`).
    pub scopes: Vec<String>,
    /// Capabilities announced (`tool-events`).
    pub caps: Vec<String>,
    /// Events buffered per run before its stream coalesces (deltas merge, statuses drop), so a
    /// slow reader never stalls the connection (1024).
    pub run_buffer: usize,
    /// Largest message accepted from the gateway, in bytes (64 MiB).
    pub max_message_bytes: usize,
}

impl Default for OpenClawConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            handshake_retries: 20,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            backoff_jitter: 0.2,
            missed_ticks: 2,
            confirm_timeout: Duration::from_secs(1),
            recheck_interval: Duration::from_secs(5),
            resume_window: Duration::from_secs(60),
            client_version: env!("CARGO_PKG_VERSION").to_owned(),
            display_name: "godel".to_owned(),
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            caps: DEFAULT_CAPS.iter().map(|s| (*s).to_owned()).collect(),
            run_buffer: 1024,
            max_message_bytes: 64 << 20,
        }
    }
}
