//! [`MemoryAgentRepository`]: the agent registry in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use godel_types::{AgentId, InstanceId};

use super::lock;
use crate::records::AgentRecord;
use crate::repository::{AgentRepository, RepositoryError};

/// An [`AgentRepository`] in memory; clones share the same agents.
#[derive(Debug, Clone, Default)]
pub struct MemoryAgentRepository {
    agents: Arc<Mutex<BTreeMap<AgentId, AgentRecord>>>,
}

#[async_trait]
impl AgentRepository for MemoryAgentRepository {
    async fn insert(&self, agent: AgentRecord) -> Result<(), RepositoryError> {
        let mut agents = lock(&self.agents);
        if agents.contains_key(&agent.id) {
            return Err(RepositoryError::already_exists("agent", &agent.id));
        }
        agents.insert(agent.id.clone(), agent);
        Ok(())
    }

    async fn get(&self, id: &AgentId) -> Result<AgentRecord, RepositoryError> {
        lock(&self.agents)
            .get(id)
            .cloned()
            .ok_or_else(|| RepositoryError::not_found("agent", id))
    }

    async fn update(&self, agent: &AgentRecord) -> Result<(), RepositoryError> {
        let mut agents = lock(&self.agents);
        let stored = agents
            .get_mut(&agent.id)
            .ok_or_else(|| RepositoryError::not_found("agent", &agent.id))?;
        *stored = agent.clone();
        Ok(())
    }

    async fn list(
        &self,
        instance: Option<InstanceId>,
    ) -> Result<Vec<AgentRecord>, RepositoryError> {
        Ok(lock(&self.agents)
            .values()
            .filter(|a| instance.is_none_or(|i| a.instance == i))
            .cloned()
            .collect())
    }

    async fn remove(&self, id: &AgentId) -> Result<AgentRecord, RepositoryError> {
        lock(&self.agents)
            .remove(id)
            .ok_or_else(|| RepositoryError::not_found("agent", id))
    }
}
