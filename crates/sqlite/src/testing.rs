//! Test fixtures (feature `test-util`): databases in temporary folders, removed afterwards.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use godel_queue::conformance::StoreFactory;
use godel_queue::{ManualClock, QueueConfig};
use sqlx::SqlitePool;

use crate::SqliteQueueStore;

/// A fresh folder under the system's temporary directory, deleted with everything in it when
/// dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates the folder.
    ///
    /// # Panics
    /// When the folder cannot be created.
    #[must_use]
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("godel-sqlite-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create a temporary folder");
        Self { path }
    }

    /// Its path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database file in it (`godel.db`).
    #[must_use]
    pub fn database(&self) -> PathBuf {
        self.path.join("godel.db")
    }

    /// The queue's lock file in it.
    #[must_use]
    pub fn queue_lock(&self) -> PathBuf {
        self.path.join("godel.db.queue-lock")
    }

    /// A migrated pool on its database.
    ///
    /// # Panics
    /// When the database cannot be opened.
    pub async fn pool(&self) -> SqlitePool {
        crate::open(&self.database(), 4)
            .await
            .expect("open the test database")
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.path).ok();
    }
}

/// Makes [`SqliteQueueStore`]s on file databases in temporary folders for the queue
/// conformance suite; the folders live as long as the factory (one conformance case).
#[derive(Debug, Default)]
pub struct QueueFactory {
    dirs: Mutex<Vec<TempDir>>,
}

impl StoreFactory for QueueFactory {
    type Store = SqliteQueueStore;

    async fn create(&self, config: QueueConfig, clock: ManualClock) -> SqliteQueueStore {
        let dir = TempDir::new();
        let pool = dir.pool().await;
        let store = SqliteQueueStore::open(pool, Some(&dir.queue_lock()), config, Arc::new(clock))
            .await
            .expect("open the queue");
        self.dirs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(dir);
        store
    }
}
