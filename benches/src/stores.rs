//! The store factory: `--store` picks a [`QueueStore`] implementation, and the workload sees
//! only the port. Stores that do not exist yet say so instead of producing a result.

use std::fmt;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use godel_queue::{MemoryQueueStore, QueueStore};

use crate::params::Params;

/// The stores `godel-bench` knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// `MemoryQueueStore`: in process, not durable; the ceiling the others are measured against.
    Memory,
    /// The SQLite store (arrives with issue #4).
    Sqlite,
    /// The Postgres store (arrives with issue #4).
    Postgres,
    /// The Redis store (arrives with issue #4).
    Redis,
}

impl StoreKind {
    /// The name used on the command line and as the report's `backend`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store ready for the workload, with what the report says about it.
pub struct OpenedStore {
    /// The store, behind the port.
    pub store: Arc<dyn QueueStore>,
    /// Which kind it is.
    pub kind: StoreKind,
    /// The report's `backend_version`, e.g. `godel-queue 0.1.0 (in-process)`.
    pub backend_version: String,
    /// Whether the store runs inside this process (then there is no server process to measure:
    /// the store's work runs on the threads that call it).
    pub in_process: bool,
}

impl fmt::Debug for OpenedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedStore")
            .field("kind", &self.kind)
            .field("backend_version", &self.backend_version)
            .field("in_process", &self.in_process)
            .finish_non_exhaustive()
    }
}

/// Fails for a store that is not implemented yet, before any parameter is read.
///
/// # Errors
/// `store <kind> arrives with the stores issue (#4)` for SQLite, Postgres and Redis.
pub fn ensure_available(kind: StoreKind) -> Result<()> {
    match kind {
        StoreKind::Memory => Ok(()),
        StoreKind::Sqlite | StoreKind::Postgres | StoreKind::Redis => Err(not_yet(kind)),
    }
}

/// Opens the store of `kind`, fresh and empty.
///
/// # Errors
/// As [`ensure_available`] for a store that is not implemented yet.
pub fn open(kind: StoreKind, _params: &Params) -> Result<OpenedStore> {
    match kind {
        StoreKind::Memory => Ok(OpenedStore {
            store: Arc::new(MemoryQueueStore::new()),
            kind,
            backend_version: format!("godel-queue {} (in-process)", queue_version()),
            in_process: true,
        }),
        StoreKind::Sqlite | StoreKind::Postgres | StoreKind::Redis => Err(not_yet(kind)),
    }
}

fn not_yet(kind: StoreKind) -> anyhow::Error {
    anyhow!("store {kind} arrives with the stores issue (#4)")
}

/// The version of `godel-queue` linked in: the workspace version, which this package shares.
fn queue_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::from_lookup(|n| (n == "OUT").then(|| "/dev/null".to_owned())).unwrap()
    }

    #[test]
    fn memory_opens_in_process() {
        let opened = open(StoreKind::Memory, &params()).unwrap();
        assert!(opened.in_process);
        assert!(opened.backend_version.starts_with("godel-queue "));
        assert!(opened.backend_version.ends_with("(in-process)"));
    }

    #[test]
    fn stores_of_later_issues_refuse_to_run() {
        for kind in [StoreKind::Sqlite, StoreKind::Postgres, StoreKind::Redis] {
            let err = open(kind, &params()).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("store {kind} arrives with the stores issue (#4)")
            );
        }
    }
}
