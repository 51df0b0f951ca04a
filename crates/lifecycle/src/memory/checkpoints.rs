//! [`MemoryCheckpointStore`]: session checkpoints in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use godel_types::{CheckpointId, SessionId, TenantId};

use super::lock;
use crate::records::Checkpoint;
use crate::repository::{CheckpointStore, RepositoryError};

/// A [`CheckpointStore`] in memory; clones share the same checkpoints.
///
/// "Newest" means the latest `created_at`, ties broken by id (ids are time-ordered).
#[derive(Debug, Clone, Default)]
pub struct MemoryCheckpointStore {
    checkpoints: Arc<Mutex<BTreeMap<CheckpointId, Checkpoint>>>,
}

/// A session's checkpoints, oldest first.
fn of_session<'a>(
    all: &'a BTreeMap<CheckpointId, Checkpoint>,
    tenant: &TenantId,
    session: SessionId,
) -> Vec<&'a Checkpoint> {
    let mut found: Vec<_> = all
        .values()
        .filter(|c| c.session == session && c.tenant == *tenant)
        .collect();
    found.sort_by_key(|c| (c.created_at, c.id));
    found
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn save(&self, checkpoint: Checkpoint) -> Result<(), RepositoryError> {
        let mut all = lock(&self.checkpoints);
        let name_taken = checkpoint.name.is_some()
            && all.values().any(|c| {
                c.session == checkpoint.session
                    && c.tenant == checkpoint.tenant
                    && c.name == checkpoint.name
            });
        if all.contains_key(&checkpoint.id) || name_taken {
            return Err(RepositoryError::already_exists("checkpoint", checkpoint.id));
        }
        all.insert(checkpoint.id, checkpoint);
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: CheckpointId,
    ) -> Result<Checkpoint, RepositoryError> {
        lock(&self.checkpoints)
            .get(&id)
            .filter(|c| c.tenant == *tenant)
            .cloned()
            .ok_or_else(|| RepositoryError::not_found("checkpoint", id))
    }

    async fn latest(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> Result<Option<Checkpoint>, RepositoryError> {
        let all = lock(&self.checkpoints);
        Ok(of_session(&all, tenant, session)
            .last()
            .map(|c| (*c).clone()))
    }

    async fn list(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> Result<Vec<Checkpoint>, RepositoryError> {
        let all = lock(&self.checkpoints);
        Ok(of_session(&all, tenant, session)
            .into_iter()
            .cloned()
            .collect())
    }

    async fn prune(
        &self,
        tenant: &TenantId,
        session: SessionId,
        keep: usize,
    ) -> Result<u64, RepositoryError> {
        let mut all = lock(&self.checkpoints);
        let automatic: Vec<CheckpointId> = of_session(&all, tenant, session)
            .into_iter()
            .filter(|c| c.name.is_none())
            .map(|c| c.id)
            .collect();
        let doomed = &automatic[..automatic.len().saturating_sub(keep)];
        for id in doomed {
            all.remove(id);
        }
        Ok(u64::try_from(doomed.len()).unwrap_or(u64::MAX))
    }
}
