//! The in-memory repositories pass every repository conformance suite: once as their concrete
//! types and once behind `Arc<dyn Port>`, as the engine holds them.

use std::sync::Arc;

use godel_lifecycle::memory::{
    MemoryAgentRepository, MemoryCheckpointStore, MemoryEventLog, MemorySessionRepository,
    MemoryTaskRepository,
};
use godel_lifecycle::{
    AgentRepository, CheckpointStore, EventLog, SessionRepository, TaskRepository,
};

godel_lifecycle::task_repository_conformance!(|| async {
    Arc::new(MemoryTaskRepository::default())
});
godel_lifecycle::session_repository_conformance!(|| async {
    Arc::new(MemorySessionRepository::default())
});
godel_lifecycle::agent_repository_conformance!(|| async {
    Arc::new(MemoryAgentRepository::default())
});
godel_lifecycle::checkpoint_store_conformance!(|| async {
    Arc::new(MemoryCheckpointStore::default())
});
godel_lifecycle::event_log_conformance!(|| async { Arc::new(MemoryEventLog::default()) });

/// The same suites through trait objects.
mod dyn_ports {
    use super::*;

    godel_lifecycle::task_repository_conformance!(|| async {
        Arc::new(MemoryTaskRepository::default()) as Arc<dyn TaskRepository>
    });
    godel_lifecycle::session_repository_conformance!(|| async {
        Arc::new(MemorySessionRepository::default()) as Arc<dyn SessionRepository>
    });
    godel_lifecycle::agent_repository_conformance!(|| async {
        Arc::new(MemoryAgentRepository::default()) as Arc<dyn AgentRepository>
    });
    godel_lifecycle::checkpoint_store_conformance!(|| async {
        Arc::new(MemoryCheckpointStore::default()) as Arc<dyn CheckpointStore>
    });
    godel_lifecycle::event_log_conformance!(|| async {
        Arc::new(MemoryEventLog::default()) as Arc<dyn EventLog>
    });
}

/// Clones of a memory repository share one store.
#[tokio::test]
async fn clones_share_the_store() {
    let repo = MemorySessionRepository::default();
    let clone = repo.clone();
    let session = godel_lifecycle::conformance::session("acme", 1);
    repo.insert(session.clone()).await.expect("insert");
    let read = clone
        .get(&session.tenant, session.id)
        .await
        .expect("visible through the clone");
    assert_eq!(read, session);
}
