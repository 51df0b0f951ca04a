//! `godel-postgres`: Godel's authoritative store on Postgres.
//!
//! - [`PgQueueStore`](queue::PgQueueStore): the `QueueStore` port with `FOR UPDATE SKIP LOCKED`
//!   claims and group-committed writes;
//! - [`repos`]: every repository port of `godel-lifecycle` and the `InstanceStore` of
//!   `godel-federation`;
//! - [`migrate`](mod@migrate): the embedded migrations of `migrations/postgres`, with row-level security on
//!   every tenant-scoped table (`app.current_tenant`, set per transaction);
//! - [`admin`]: creating and dropping databases through an admin URL;
//! - [`error`]: the one place driver errors become port errors.
//!
//! Under the `test-util` feature, `testing` makes a fresh database per test.

pub mod admin;
pub mod error;
pub mod migrate;
pub mod queue;
pub mod repos;
#[cfg(feature = "test-util")]
pub mod testing;

pub use migrate::{MIGRATOR, connect, migrate};
