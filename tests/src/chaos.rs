//! Support of the fault-injection scenarios (`tests/chaos.rs`, run at full size by `cargo xtask
//! chaos`, at a small size in CI): processes to break and the checks that follow.
//!
//! - [`scale`]: how big a run is (`GODEL_CHAOS_SCALE=ci|full`);
//! - [`sims`]: [`SimProcess`], one simulated gateway as a process of its own
//!   (`godel-openclaw-sim`), SIGKILLed and restarted on the same port, hung with SIGUSR1, with a
//!   run journal per incarnation; [`gateways_toml`] registers them in a `godel.toml`;
//! - [`journal`]: reads the journals and finds runs of one task that overlapped in time;
//! - [`load`]: [`Client`], a non-panicking REST client (the server may be down), the submitter of
//!   a bounded load and the waits and checks on every accepted task;
//! - [`redis`] and [`postgres`]: a private Redis server and a private PostgreSQL cluster, on
//!   free ports, to restart at will (the machine's shared servers are never touched);
//! - [`rig`]: [`Rig`], simulators plus a server using them, and the check every scenario ends
//!   with.
//!
//! Every process here listens on 127.0.0.1 and is stopped by its PID when its handle drops.

pub mod journal;
pub mod load;
pub mod postgres;
pub mod redis;
pub mod rig;
pub mod scale;
pub mod sims;

pub use journal::{JournalReport, RunSpan};
pub use load::{Client, Ledger, Load, TerminalTally};
pub use postgres::OwnPostgres;
pub use redis::OwnRedis;
pub use rig::Rig;
pub use scale::Scale;
pub use sims::{SimProcess, gateways_toml};

/// A free TCP port on 127.0.0.1 (bound once and released: another process could take it before
/// it is used, which the callers' start-up checks would report).
///
/// # Panics
/// When no port can be bound.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Wall-clock Unix time in milliseconds, the clock of the run journals.
#[must_use]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
