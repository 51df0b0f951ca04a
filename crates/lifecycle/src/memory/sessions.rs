//! [`MemorySessionRepository`]: sessions in memory, with optimistic versioning.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use godel_types::{SessionId, TenantId};

use super::lock;
use crate::records::SessionRecord;
use crate::repository::{RepositoryError, SessionFilter, SessionRepository};

/// A [`SessionRepository`] in memory; clones share the same sessions.
#[derive(Debug, Clone, Default)]
pub struct MemorySessionRepository {
    sessions: Arc<Mutex<BTreeMap<SessionId, SessionRecord>>>,
}

#[async_trait]
impl SessionRepository for MemorySessionRepository {
    async fn insert(&self, session: SessionRecord) -> Result<(), RepositoryError> {
        let mut sessions = lock(&self.sessions);
        if sessions.contains_key(&session.id) {
            return Err(RepositoryError::already_exists("session", session.id));
        }
        sessions.insert(session.id, session);
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: SessionId,
    ) -> Result<SessionRecord, RepositoryError> {
        lock(&self.sessions)
            .get(&id)
            .filter(|s| s.tenant == *tenant)
            .cloned()
            .ok_or_else(|| RepositoryError::not_found("session", id))
    }

    async fn update(&self, session: &SessionRecord) -> Result<(), RepositoryError> {
        let mut sessions = lock(&self.sessions);
        let stored = sessions
            .get_mut(&session.id)
            .filter(|s| s.tenant == session.tenant)
            .ok_or_else(|| RepositoryError::not_found("session", session.id))?;
        if stored.version.checked_add(1) != Some(session.version) {
            return Err(RepositoryError::conflict("session", session.id));
        }
        *stored = session.clone();
        Ok(())
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, RepositoryError> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(lock(&self.sessions)
            .range((start, Bound::Unbounded))
            .map(|(_, s)| s)
            .filter(|s| filter.matches(s))
            .take(limit)
            .cloned()
            .collect())
    }
}
