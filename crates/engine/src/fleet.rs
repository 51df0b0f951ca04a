//! The engine's live view of the fleet: instances with their health tracker, circuit breaker
//! and gateway client; agents with their load and the sessions they advertise. One mutex, never
//! held across an `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use godel_federation::{BreakerState, CircuitBreaker, HealthTracker, Instance};
use godel_lifecycle::{AgentRecord, Gateway};
use godel_queue::{Capabilities, Eligibility};
use godel_scheduling::{AgentSnapshot, LoadLedger, RouteRequest, Router};
use godel_types::{AgentId, AgentStatus, InstanceId, SessionId};
use time::OffsetDateTime;

use crate::model::session_capability;

/// One instance as the engine runs it.
pub(crate) struct InstanceSlot {
    pub(crate) instance: Instance,
    pub(crate) tracker: HealthTracker,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) gateway: Arc<dyn Gateway>,
}

/// One agent as the engine runs it.
pub(crate) struct AgentSlot {
    pub(crate) record: AgentRecord,
    /// Sessions on this agent that are ready for a run: tasks bound to them are claimable here.
    pub(crate) ready_sessions: BTreeSet<SessionId>,
}

/// Where to send an agent's runs.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) instance: InstanceId,
    pub(crate) gateway: Arc<dyn Gateway>,
    pub(crate) gateway_agent: String,
}

#[derive(Default)]
pub(crate) struct FleetState {
    pub(crate) instances: HashMap<InstanceId, InstanceSlot>,
    pub(crate) agents: BTreeMap<AgentId, AgentSlot>,
    pub(crate) ledger: LoadLedger,
}

/// The fleet, shared by the dispatcher, the runs and the duties.
pub(crate) struct Fleet {
    state: Mutex<FleetState>,
    router: Mutex<Router>,
}

impl Fleet {
    pub(crate) fn new(router: Router) -> Self {
        Self {
            state: Mutex::new(FleetState::default()),
            router: Mutex::new(router),
        }
    }

    /// The state, for a short synchronous section.
    pub(crate) fn lock(&self) -> MutexGuard<'_, FleetState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Agents in the order they should be offered work now (only those that can take some).
    pub(crate) fn dispatch_order(&self, now: OffsetDateTime, region: Option<&str>) -> Vec<AgentId> {
        let snapshots = self.lock().snapshots(now);
        let request = RouteRequest {
            region: region.map(str::to_owned),
            ..RouteRequest::default()
        };
        self.router
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .order(&request, &snapshots)
    }
}

impl FleetState {
    /// Every agent as the router sees it.
    pub(crate) fn snapshots(&self, now: OffsetDateTime) -> Vec<AgentSnapshot> {
        self.agents
            .values()
            .map(|slot| {
                let record = &slot.record;
                let instance = self.instances.get(&record.instance);
                let available =
                    instance.is_some_and(|i| {
                        i.instance.accepts_work()
                            && !matches!(i.breaker.state(now), BreakerState::Open { .. })
                    }) && !matches!(record.status, AgentStatus::Offline | AgentStatus::Error);
                let mut snapshot =
                    AgentSnapshot::new(record.id.clone(), record.instance, record.max_capacity);
                snapshot.capabilities = record.capabilities.clone();
                snapshot.load = self.ledger.load(&record.id);
                snapshot.available = available;
                if let Some(i) = instance {
                    snapshot.region.clone_from(&i.instance.region);
                    snapshot.zone.clone_from(&i.instance.zone);
                }
                snapshot
            })
            .collect()
    }

    /// Free slots of `agent` now (0 if unknown).
    pub(crate) fn free(&self, agent: &AgentId) -> u32 {
        self.agents.get(agent).map_or(0, |slot| {
            slot.record
                .max_capacity
                .saturating_sub(self.ledger.load(agent))
        })
    }

    /// What `agent` may claim: its capabilities plus the ready sessions it holds.
    pub(crate) fn eligibility(&self, agent: &AgentId) -> Option<Eligibility> {
        let slot = self.agents.get(agent)?;
        let mut capabilities: Vec<_> = slot.record.capabilities.iter().cloned().collect();
        capabilities.extend(
            slot.ready_sessions
                .iter()
                .filter_map(|s| session_capability(*s)),
        );
        Some(Eligibility::with_capabilities(Capabilities::from(
            capabilities,
        )))
    }

    /// Where `agent`'s runs go.
    pub(crate) fn route(&self, agent: &AgentId) -> Option<Route> {
        let slot = self.agents.get(agent)?;
        let instance = self.instances.get(&slot.record.instance)?;
        Some(Route {
            instance: instance.instance.id,
            gateway: Arc::clone(&instance.gateway),
            gateway_agent: slot.record.gateway_agent.clone(),
        })
    }

    /// Pool load and capacity over agents on instances that accept work.
    pub(crate) fn pool(&self) -> (u32, u32) {
        self.agents
            .values()
            .filter(|slot| {
                self.instances
                    .get(&slot.record.instance)
                    .is_some_and(|i| i.instance.accepts_work())
            })
            .fold((0, 0), |(load, cap), slot| {
                (
                    load + self.ledger.load(&slot.record.id),
                    cap + slot.record.max_capacity,
                )
            })
    }

    /// Agents on `instance`.
    pub(crate) fn agents_on(&self, instance: InstanceId) -> Vec<AgentId> {
        self.agents
            .values()
            .filter(|slot| slot.record.instance == instance)
            .map(|slot| slot.record.id.clone())
            .collect()
    }
}
