//! The SQLite repositories: every repository port of `godel-lifecycle`, the
//! [`InstanceStore`](godel_federation::InstanceStore) of `godel-federation` and the access ports
//! of `godel-engine` ([`ApiKeyStore`](godel_engine::access::ApiKeyStore),
//! [`AuditLog`](godel_engine::access::AuditLog)), each a cheap handle on a
//! [`SqlitePool`](sqlx::SqlitePool) opened by [`crate::db::open`].
//!
//! Every table (`migrations/sqlite/0001_core.sql`, `0003_audit.sql`) keeps typed columns for
//! what is filtered, sorted or constrained on, and the whole record as JSON in `record`, which
//! is what reads decode (`api_keys` alone has typed columns only). Writes are single statements
//! where they can be (the session version check is an `UPDATE ... WHERE version = ?`); the few
//! read-then-write operations open `BEGIN IMMEDIATE` transactions, so they take the write lock
//! up front and wait for it (busy timeout) instead of failing on a stale snapshot. Driver
//! errors become port errors in one place (`repos/error.rs`).

mod agents;
mod api_keys;
mod audit;
mod checkpoints;
mod codec;
mod error;
mod events;
mod instances;
mod sessions;
mod tasks;

pub use self::agents::SqliteAgentRepository;
pub use self::api_keys::SqliteApiKeyStore;
pub use self::audit::SqliteAuditLog;
pub use self::checkpoints::SqliteCheckpointStore;
pub use self::events::SqliteEventLog;
pub use self::instances::SqliteInstanceStore;
pub use self::sessions::SqliteSessionRepository;
pub use self::tasks::SqliteTaskRepository;
