//! `godel-openclaw-sim`: a simulated OpenClaw gateway speaking protocol v4 as the real one does
//! (`../shared/OPENCLAW.md` and the captures in `../shared/openclaw/captures/`), with knobs for run
//! duration, failures, capacity, start-up, dropped connections and hangs.
//!
//! It serves adapter tests, load runs with 10–50 gateways in one process, and `godel-server --dev`.
//! One gateway is a listener task, one task per connection and one per active run, all on the
//! caller's tokio runtime; an idle gateway costs only its timers.
//!
//! It is an independent implementation of the protocol (plain `serde_json` values), deliberately
//! sharing no code with the adapter crate `godel-openclaw`, so that the two check each other. It is
//! not a model runtime: replies are canned, and words in the message choose what a run does.
//!
//! # Behaviour
//!
//! - **Port**: WebSocket and plain HTTP on one loopback port; `GET /health`, `/healthz` answer
//!   `{"ok":true,"status":"live"}`, `/ready`, `/readyz`, `/startupz` answer 200, or 503 during the
//!   simulated start-up window.
//! - **Handshake**: `connect.challenge`, then a strictly validated `connect` (token, protocol range,
//!   known `client.id`), then `hello-ok` and a `health` event. Errors as the real gateway: close
//!   1008 (schema, token), 1002 (protocol), `UNAVAILABLE` while starting.
//! - **Runs**: `chat.send` starts a run whose id is the idempotency key (`started`, then
//!   `in_flight`, then `ok`; never a second run). A session runs one run at a time; more are
//!   queued. Events follow the real order, quirks included (the last chat delta after lifecycle
//!   `end`; lifecycle `end` then `error` on abort; a detached second chat `error`).
//! - **Message triggers**: `TOOL` (a tool call, `tool` stream to the starter with cap
//!   `tool-events`), `FAIL` (provider error after the run duration), `SLOW` (lasts
//!   [`SimConfig::slow_duration`]), `HTTP401` (immediate auth failure), `HANG` (never ends until
//!   aborted).
//! - **Journal**: with [`SimConfig::journal`], every run's start and end is appended to a JSON-lines
//!   file ([`RunJournal`]), ground truth for "no task ran twice at once" checks.
//! - **Faults**: [`SimGateway::kill`], [`SimGateway::restart`], [`SimGateway::drop_connections`],
//!   [`SimGateway::set_hang`], failure and drop rates, and the capacity knob.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use godel_openclaw_sim::{SimConfig, Simulator};
//!
//! let gateway = Simulator::start(SimConfig::default().with_token("secret")).await?;
//! println!("connect to {}", gateway.endpoint());
//! gateway.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod connection;
mod fleet;
mod frames;
mod gateway;
mod handshake;
mod http;
mod journal;
mod methods;
mod rng;
mod runs;
mod server;
mod state;

pub use self::config::{FailureKind, SimConfig};
pub use self::fleet::SimFleet;
pub use self::gateway::{SimGateway, SimStats, Simulator};
pub use self::journal::RunJournal;
