//! `AgentService`: register, list, inspect and deregister agents.

use std::sync::Arc;

use godel_lifecycle::AgentRecord;
use godel_queue::Capabilities;
use godel_scheduling::LoadLedger;
use godel_types::{AgentEventKind, AgentId, InstanceId};
use serde::{Deserialize, Serialize};

use crate::engine::Inner;
use crate::error::EngineError;
use crate::fleet::AgentSlot;

/// Agent use cases.
#[derive(Clone)]
pub struct AgentService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AgentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentService").finish_non_exhaustive()
    }
}

/// An agent to register (API `POST /agents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    /// Its name (becomes its id).
    pub name: String,
    /// The instance it runs on.
    pub instance_id: InstanceId,
    /// Its id on the gateway (default `main`).
    #[serde(default)]
    pub gateway_agent: Option<String>,
    /// What it can do.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Tasks it may run at once (1 to 1000).
    pub max_capacity: u32,
}

/// An agent with its live load (API `GET /agents/{id}/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatusView {
    /// The agent.
    pub agent: AgentRecord,
    /// Tasks it runs now.
    pub active_tasks: u32,
    /// Due tasks waiting in the whole queue.
    pub queue_depth: u64,
}

/// Adds an agent to the fleet and the repository.
pub(crate) async fn add(inner: &Inner, record: AgentRecord) -> Result<(), EngineError> {
    inner.stores.agents.insert(record.clone()).await?;
    let load = inner.stores.queue.load(&record.id).await.unwrap_or(0);
    {
        let mut fleet = inner.fleet.lock();
        fleet
            .ledger
            .set_capacity(record.id.clone(), record.max_capacity);
        fleet.ledger.set_load(record.id.clone(), load);
        fleet.agents.insert(
            record.id.clone(),
            AgentSlot {
                record: record.clone(),
                ready_sessions: Default::default(),
            },
        );
    }
    inner
        .bus
        .publish(record.event(AgentEventKind::Connected, load, inner.clock.now()));
    inner.wake.notify_one();
    Ok(())
}

impl AgentService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Registers an agent on a known instance.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for a bad name, capability or capacity;
    /// [`EngineError::NotFound`] for an unknown instance; [`EngineError::Conflict`] for a
    /// name in use.
    pub async fn register(&self, request: RegisterAgent) -> Result<AgentRecord, EngineError> {
        let id = AgentId::parse(&request.name)
            .map_err(|e| EngineError::invalid("name", e.to_string()))?;
        let capabilities = Capabilities::parse(request.capabilities.iter().map(String::as_str))
            .map_err(|e| EngineError::invalid("capabilities", e.to_string()))?;
        if request.max_capacity == 0 || request.max_capacity > 1000 {
            return Err(EngineError::invalid("max_capacity", "must be 1 to 1000"));
        }
        let instance = self.inner.stores.instances.get(request.instance_id).await?;
        let healthy = self
            .inner
            .fleet
            .lock()
            .instances
            .get(&instance.id)
            .is_some_and(|s| s.instance.accepts_work());
        let now = self.inner.clock.now();
        let mut record = AgentRecord::new(
            id,
            instance.id,
            request.gateway_agent.unwrap_or_else(|| "main".into()),
            capabilities,
            request.max_capacity,
            now,
        );
        if !healthy {
            let _ = record.set_status(godel_types::AgentStatus::Offline, 0, now);
        }
        add(&self.inner, record.clone()).await?;
        Ok(record)
    }

    /// Every agent, ordered by id.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`].
    pub async fn list(&self) -> Result<Vec<AgentRecord>, EngineError> {
        Ok(self.inner.stores.agents.list(None).await?)
    }

    /// One agent with its live load.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; [`EngineError::Unavailable`].
    pub async fn status(&self, id: &AgentId) -> Result<AgentStatusView, EngineError> {
        let agent = self.inner.stores.agents.get(id).await?;
        let active_tasks = self.inner.stores.queue.load(id).await?;
        let queue_depth = self.inner.stores.queue.depth().await?.total();
        Ok(AgentStatusView {
            agent,
            active_tasks,
            queue_depth,
        })
    }

    /// The engine's load ledger as it stands (for metrics and checks that it never drifts).
    #[must_use]
    pub fn ledger(&self) -> LoadLedger {
        self.inner.fleet.lock().ledger.clone()
    }

    /// Deregisters an agent: its leased tasks go back to the queue.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; [`EngineError::Unavailable`].
    pub async fn deregister(&self, id: &AgentId) -> Result<AgentRecord, EngineError> {
        let record = self.inner.stores.agents.remove(id).await?;
        self.inner.fleet.lock().agents.remove(id);
        let requeued = self
            .inner
            .stores
            .queue
            .fail_over(id, "agent deregistered")
            .await?;
        crate::orchestrator::duties::requeued_events(&self.inner, &requeued, "agent deregistered")
            .await;
        self.inner.bus.publish(record.event(
            AgentEventKind::Disconnected,
            0,
            self.inner.clock.now(),
        ));
        self.inner.wake.notify_one();
        Ok(record)
    }
}
