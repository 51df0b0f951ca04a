//! [`MemoryEventLog`]: the audit trail in memory.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use godel_types::{Event, EventId};

use super::lock;
use crate::repository::{EventLog, EventQuery, RepositoryError};

/// An [`EventLog`] in memory; clones share the same log.
///
/// It keeps every event it is given and never forgets one: memory grows by one event per
/// append for as long as the process lives (a few hundred bytes each). Fine for tests and
/// short-lived embedded use; a long-running server keeps its audit trail in a store adapter.
#[derive(Debug, Clone, Default)]
pub struct MemoryEventLog {
    events: Arc<Mutex<BTreeMap<EventId, Event>>>,
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn append(&self, events: &[Event]) -> Result<(), RepositoryError> {
        let mut log = lock(&self.events);
        for event in events {
            log.entry(event.id).or_insert_with(|| event.clone());
        }
        Ok(())
    }

    async fn list(
        &self,
        query: &EventQuery,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<Event>, RepositoryError> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(lock(&self.events)
            .range((start, Bound::Unbounded))
            .map(|(_, e)| e)
            .filter(|e| query.matches(e))
            .take(limit)
            .cloned()
            .collect())
    }
}
