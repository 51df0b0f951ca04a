//! The paired queue store: Postgres holds the truth, Redis the index (DESIGN §4).
//!
//! - `paired`: [`PairedQueueStore`] itself, the `QueueStore` it implements and its claim
//!   path (Redis picks and leases, Postgres adopts).
//! - `mirror`: after each write, the affected tasks are re-read from Postgres and restored into
//!   Redis, in order per task.
//! - `reconciler`: rebuilding the whole index from Postgres, on demand and in the background.

mod mirror;
mod paired;
mod reconciler;

pub use paired::{IndexHealth, PairedQueueStore};
