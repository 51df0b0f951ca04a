//! `InstanceService`: the federation registry: register (and probe at once), list, health,
//! deregister (failing its work over).

use std::sync::Arc;

use godel_federation::{CircuitBreaker, HealthTracker, Instance, InstanceSpec};
use godel_lifecycle::GatewayTarget;
use godel_types::{EventBody, InstanceEvent, InstanceEventKind, InstanceId};

use crate::engine::Inner;
use crate::error::EngineError;
use crate::fleet::InstanceSlot;

/// Instance use cases.
#[derive(Clone)]
pub struct InstanceService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for InstanceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceService").finish_non_exhaustive()
    }
}

/// Registers an instance, connects its gateway client and probes it once.
pub(crate) async fn add(
    inner: &Inner,
    id: InstanceId,
    spec: InstanceSpec,
) -> Result<Instance, EngineError> {
    spec.validate()?;
    let instance = Instance::new(id, spec, inner.clock.now());
    attach(inner, instance, true).await
}

/// Connects `instance`'s gateway client, puts it in the fleet (writing it to the store when
/// `register`), announces it and probes it once.
async fn attach(
    inner: &Inner,
    instance: Instance,
    register: bool,
) -> Result<Instance, EngineError> {
    let id = instance.id;
    let target = GatewayTarget {
        instance: id,
        endpoint: instance.endpoint.clone(),
        token: instance.token.clone(),
    };
    let gateway = inner
        .connector
        .connect(&target)
        .await
        .map_err(|e| EngineError::invalid("endpoint", e.to_string()))?;
    if register {
        inner.stores.instances.register(instance.clone()).await?;
    }
    inner.fleet.lock().instances.insert(
        id,
        InstanceSlot {
            instance: instance.clone(),
            tracker: HealthTracker::new(inner.config.health.clone(), inner.clock.now()),
            breaker: CircuitBreaker::new(inner.config.breaker.clone()),
            gateway,
        },
    );
    inner.publish(
        None,
        EventBody::Instance(
            InstanceEventKind::Registered,
            InstanceEvent {
                id,
                endpoint: instance.endpoint.clone(),
                health: instance.health,
                previous: None,
                reason: None,
            },
        ),
    );
    crate::orchestrator::duties::probe_all(inner).await;
    Ok(inner
        .fleet
        .lock()
        .instances
        .get(&id)
        .map_or(instance, |s| s.instance.clone()))
}

impl InstanceService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Registers a gateway instance and probes it; its agents are discovered from the probe.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for a bad spec; [`EngineError::Conflict`] for an endpoint
    /// already registered.
    pub async fn register(&self, spec: InstanceSpec) -> Result<Instance, EngineError> {
        add(&self.inner, InstanceId::generate(), spec).await
    }

    /// Puts every instance the store keeps back into the fleet, under the same ids (at start:
    /// the fleet itself lives in memory). Instances whose gateway client cannot be built are
    /// skipped and logged. Returns how many were restored.
    ///
    /// The store does not keep gateway tokens, so a restored instance connects without one;
    /// register token-protected gateways from configuration at every start instead.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when the store cannot be read.
    pub async fn restore(&self) -> Result<usize, EngineError> {
        let kept = self.inner.stores.instances.list().await?;
        let mut restored = 0;
        for instance in kept {
            if self.inner.fleet.lock().instances.contains_key(&instance.id) {
                continue;
            }
            let id = instance.id;
            match attach(&self.inner, instance, false).await {
                Ok(_) => restored += 1,
                Err(e) => tracing::warn!(instance = %id, error = %e, "instance not restored"),
            }
        }
        Ok(restored)
    }

    /// Every instance as the engine sees it now.
    #[must_use]
    pub fn list(&self) -> Vec<Instance> {
        let mut all: Vec<_> = self
            .inner
            .fleet
            .lock()
            .instances
            .values()
            .map(|s| s.instance.clone())
            .collect();
        all.sort_by_key(|i| i.id);
        all
    }

    /// One instance.
    ///
    /// # Errors
    /// [`EngineError::NotFound`].
    pub fn get(&self, id: InstanceId) -> Result<Instance, EngineError> {
        self.inner
            .fleet
            .lock()
            .instances
            .get(&id)
            .map(|s| s.instance.clone())
            .ok_or_else(|| EngineError::not_found("instance", id))
    }

    /// Probes every instance now (the leader also does so on its interval).
    pub async fn probe(&self) {
        crate::orchestrator::duties::probe_all(&self.inner).await;
    }

    /// Removes an instance: its tasks fail over, its sessions move or are marked.
    ///
    /// # Errors
    /// [`EngineError::NotFound`].
    pub async fn deregister(&self, id: InstanceId) -> Result<Instance, EngineError> {
        let instance = self.get(id)?;
        if let Some(slot) = self.inner.fleet.lock().instances.get_mut(&id) {
            slot.instance.draining = true;
        }
        crate::orchestrator::duties::fail_over(&self.inner, id, "instance deregistered").await;
        {
            let mut fleet = self.inner.fleet.lock();
            fleet.instances.remove(&id);
            let agents = fleet.agents_on(id);
            for agent in agents {
                fleet.agents.remove(&agent);
            }
        }
        for agent in self
            .inner
            .stores
            .agents
            .list(Some(id))
            .await
            .unwrap_or_default()
        {
            let _ = self.inner.stores.agents.remove(&agent.id).await;
        }
        self.inner.stores.instances.deregister(id).await?;
        self.inner.publish(
            None,
            EventBody::Instance(
                InstanceEventKind::Deregistered,
                InstanceEvent {
                    id,
                    endpoint: instance.endpoint.clone(),
                    health: instance.health,
                    previous: None,
                    reason: None,
                },
            ),
        );
        Ok(instance)
    }
}
