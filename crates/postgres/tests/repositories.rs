//! The Postgres repositories pass every conformance suite of their ports, each case on a fresh
//! database of its own (see `support` for how a case skips when Postgres is unreachable).

mod support;

use std::sync::Arc;

use godel_postgres::repos::{
    PgAgentRepository, PgCheckpointStore, PgEventLog, PgInstanceStore, PgSessionRepository,
    PgTaskRepository,
};

use self::support::fresh;

godel_lifecycle::task_repository_conformance!(fresh!(|pool| Arc::new(PgTaskRepository::new(pool))));

godel_lifecycle::session_repository_conformance!(fresh!(|pool| Arc::new(
    PgSessionRepository::new(pool)
)));

godel_lifecycle::agent_repository_conformance!(fresh!(|pool| Arc::new(PgAgentRepository::new(
    pool
))));

godel_lifecycle::checkpoint_store_conformance!(fresh!(|pool| Arc::new(PgCheckpointStore::new(
    pool
))));

godel_lifecycle::event_log_conformance!(fresh!(|pool| Arc::new(PgEventLog::new(pool))));

godel_federation::instance_store_conformance!(fresh!(PgInstanceStore::new));
