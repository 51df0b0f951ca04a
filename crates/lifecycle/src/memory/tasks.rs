//! [`MemoryTaskRepository`]: task details in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use godel_types::{TaskId, TenantId};
use time::OffsetDateTime;

use super::lock;
use crate::gateway::RunId;
use crate::records::{RunOutcome, RunRecord, TaskDetails};
use crate::repository::{RepositoryError, TaskRepository};

/// A [`TaskRepository`] in memory; clones share the same details.
#[derive(Debug, Clone, Default)]
pub struct MemoryTaskRepository {
    tasks: Arc<Mutex<BTreeMap<TaskId, TaskDetails>>>,
}

/// The details of `id` if they belong to `tenant`.
fn owned<'a>(
    tasks: &'a mut BTreeMap<TaskId, TaskDetails>,
    tenant: &TenantId,
    id: TaskId,
) -> Result<&'a mut TaskDetails, RepositoryError> {
    tasks
        .get_mut(&id)
        .filter(|d| d.tenant == *tenant)
        .ok_or_else(|| RepositoryError::not_found("task", id))
}

#[async_trait]
impl TaskRepository for MemoryTaskRepository {
    async fn insert(&self, details: TaskDetails) -> Result<(), RepositoryError> {
        let mut tasks = lock(&self.tasks);
        if tasks.contains_key(&details.id) {
            return Err(RepositoryError::already_exists("task", details.id));
        }
        tasks.insert(details.id, details);
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, id: TaskId) -> Result<TaskDetails, RepositoryError> {
        owned(&mut lock(&self.tasks), tenant, id).map(|d| d.clone())
    }

    async fn add_run(
        &self,
        tenant: &TenantId,
        id: TaskId,
        run: RunRecord,
    ) -> Result<(), RepositoryError> {
        let mut tasks = lock(&self.tasks);
        let details = owned(&mut tasks, tenant, id)?;
        if details.runs.iter().any(|r| r.run == run.run) {
            return Err(RepositoryError::already_exists("run", run.run));
        }
        details.runs.push(run);
        Ok(())
    }

    async fn end_run(
        &self,
        tenant: &TenantId,
        id: TaskId,
        run: &RunId,
        outcome: RunOutcome,
        at: OffsetDateTime,
    ) -> Result<(), RepositoryError> {
        let mut tasks = lock(&self.tasks);
        let details = owned(&mut tasks, tenant, id)?;
        let record = details
            .runs
            .iter_mut()
            .find(|r| r.run == *run)
            .ok_or_else(|| RepositoryError::not_found("run", run))?;
        if record.outcome.is_none() {
            record.outcome = Some(outcome);
            record.ended_at = Some(at);
        }
        Ok(())
    }

    async fn remove(&self, ids: &[TaskId]) -> Result<u64, RepositoryError> {
        let mut tasks = lock(&self.tasks);
        let removed = ids.iter().filter(|id| tasks.remove(id).is_some()).count();
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}
