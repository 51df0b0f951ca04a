//! `godel-e2e`: black-box, end-to-end tests of Godel's built binaries, and checks of promises
//! the repository makes about itself.
//!
//! The tests in `tests/` start the real `godel-server` (on 127.0.0.1, port 0, in a fresh data
//! folder) and run the real `godel` CLI, and speak HTTP and WebSocket to them as an operator
//! would. This library holds what they share:
//!
//! - [`mod@binaries`]: builds `godel-server` and `godel` once per test process (`cargo build`);
//! - [`server`]: [`TestServer`], the server as a child process (start, restart on the same
//!   data, SIGTERM, kill on drop) with its output kept for failure messages;
//! - [`api`]: [`Api`], a REST client with the waits the scenarios need;
//! - [`events`]: [`EventStream`], a `/events` WebSocket subscriber;
//! - [`cli`]: [`run_cli`], the `godel` binary with `GODEL_URL` / `GODEL_API_KEY`, and
//!   [`run_server_command`] for `godel-server` commands that exit (`check-config`);
//! - [`scenarios`]: scenarios run on both stores (the newcomer's path, a restart);
//! - [`stores`]: [`LiveStores`], a fresh Postgres database and Redis prefix for the Postgres +
//!   Redis scenarios (skipped when the servers are unreachable, unless `GODEL_TEST_LIVE=require`);
//! - [`mod@chaos`]: what the fault-injection scenarios of `tests/chaos.rs` break and check
//!   (simulators as processes with run journals, private Redis and PostgreSQL servers, a load).
//!
//! `tests/workspace.rs` checks the repository's own promises (the README's test command is what
//! CI runs, every package is on the architecture map).
//!
//! What this is not: a place for unit or adapter tests. Those live next to the code they test.

pub mod api;
pub mod binaries;
pub mod chaos;
pub mod cli;
pub mod events;
pub mod scenarios;
pub mod server;
pub mod stores;

pub use api::{Api, NewTask, Reply, TaskView, WAIT};
pub use binaries::binaries;
pub use cli::{CliOutput, run_cli, run_server_command};
pub use events::EventStream;
pub use server::{ServerOptions, TestServer};
pub use stores::LiveStores;
