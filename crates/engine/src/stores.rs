//! The set of storage ports the engine works on, and an all-in-memory set.

use std::sync::Arc;

use godel_federation::{InstanceStore, MemoryInstanceStore};
use godel_lifecycle::memory::{
    MemoryAgentRepository, MemoryCheckpointStore, MemoryEventLog, MemorySessionRepository,
    MemoryTaskRepository,
};
use godel_lifecycle::{
    AgentRepository, CheckpointStore, EventLog, SessionRepository, TaskRepository,
};
use godel_queue::{MemoryQueueStore, QueueConfig, QueueStore};
use godel_types::Clock;

use crate::error::EngineError;

/// Every storage port the engine needs. A store adapter (SQLite, Postgres + Redis) fills all
/// of them; [`Stores::in_memory`] is the default for tests and embedders.
#[derive(Clone)]
pub struct Stores {
    /// The task queue.
    pub queue: Arc<dyn QueueStore>,
    /// Task details beyond the queue record.
    pub tasks: Arc<dyn TaskRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Agents.
    pub agents: Arc<dyn AgentRepository>,
    /// Session checkpoints.
    pub checkpoints: Arc<dyn CheckpointStore>,
    /// The audit trail.
    pub events: Arc<dyn EventLog>,
    /// The instance registry.
    pub instances: Arc<dyn InstanceStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl Stores {
    /// Everything in memory, reading time from `clock`.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] when `queue` is not a valid queue configuration.
    pub fn in_memory(queue: QueueConfig, clock: Arc<dyn Clock>) -> Result<Self, EngineError> {
        let store = MemoryQueueStore::try_new(queue, clock)
            .map_err(|e| EngineError::invalid("queue", e.to_string()))?;
        Ok(Self {
            queue: Arc::new(store),
            tasks: Arc::new(MemoryTaskRepository::default()),
            sessions: Arc::new(MemorySessionRepository::default()),
            agents: Arc::new(MemoryAgentRepository::default()),
            checkpoints: Arc::new(MemoryCheckpointStore::default()),
            events: Arc::new(MemoryEventLog::default()),
            instances: Arc::new(MemoryInstanceStore::default()),
        })
    }
}
