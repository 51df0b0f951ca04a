//! `godel-sqlite`: Godel's embedded default store, one SQLite file (WAL) under the data directory.
//!
//! - [`db`]: opening the file (WAL, foreign keys, busy timeout) and the embedded migrations of
//!   `migrations/sqlite`;
//! - [`queue`]: the `QueueStore`, the reference memory queue made durable by a group-committed
//!   journal in the `queue_*` tables;
//! - [`repos`]: every repository port of `godel-lifecycle` and the `InstanceStore` of
//!   `godel-federation`.
//!
//! Under the `test-util` feature, `testing` gives temporary databases and the queue's
//! conformance factory.

pub mod db;
pub mod queue;
pub mod repos;
#[cfg(feature = "test-util")]
pub mod testing;

pub use db::{MIGRATOR, open, open_in_memory};
pub use queue::SqliteQueueStore;
