//! In-memory implementations of every repository port: the reference the store adapters are
//! measured against, and the stores of tests and of embedders that may lose state on exit.
//!
//! Each is a cheap handle: clones share one store (an `Arc<Mutex<..>>` inside). Every method
//! takes the lock once, does its work synchronously and releases it before returning, so an
//! operation is atomic and no lock is held across an `.await`. A poisoned lock (a panic while
//! holding it) is taken over as is: every method leaves the state consistent before anything
//! that can panic. Memory grows with what is stored and nothing is evicted, except what the
//! ports remove (`TaskRepository::remove`, `AgentRepository::remove`, `CheckpointStore::prune`).

mod agents;
mod checkpoints;
mod events;
mod sessions;
mod tasks;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use self::agents::MemoryAgentRepository;
pub use self::checkpoints::MemoryCheckpointStore;
pub use self::events::MemoryEventLog;
pub use self::sessions::MemorySessionRepository;
pub use self::tasks::MemoryTaskRepository;

/// Takes `mutex`, over a poisoned state if need be.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
