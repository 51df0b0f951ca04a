//! [`AgentSnapshot`]: one agent as the router sees it at one instant.

use godel_types::{AgentId, Capabilities, InstanceId};

/// One agent as the router sees it at one instant.
///
/// The engine builds snapshots from its [`LoadLedger`](crate::LoadLedger), the instance registry
/// and the circuit breakers; the router never looks anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSnapshot {
    /// The agent.
    pub id: AgentId,
    /// The gateway instance it runs on.
    pub instance: InstanceId,
    /// The instance's region, if known.
    pub region: Option<String>,
    /// The instance's zone, if known.
    pub zone: Option<String>,
    /// What the agent can do.
    pub capabilities: Capabilities,
    /// Tasks running on it now.
    pub load: u32,
    /// Most tasks it may run at once.
    pub capacity: u32,
    /// Whether it may receive work at all: instance healthy, breaker closed, agent neither
    /// offline nor in error.
    pub available: bool,
}

impl AgentSnapshot {
    /// An available, idle agent with `capacity` slots, no capabilities and no location.
    #[must_use]
    pub fn new(id: AgentId, instance: InstanceId, capacity: u32) -> Self {
        Self {
            id,
            instance,
            region: None,
            zone: None,
            capabilities: Capabilities::none(),
            load: 0,
            capacity,
            available: true,
        }
    }

    /// Free slots: `capacity - load`, or 0 when the agent is at or over capacity.
    #[must_use]
    pub fn free(&self) -> u32 {
        self.capacity.saturating_sub(self.load)
    }

    /// `load / capacity`; 1.0 (full) when the capacity is 0. Above 1.0 when overloaded.
    #[must_use]
    pub fn utilisation(&self) -> f64 {
        if self.capacity == 0 {
            1.0
        } else {
            f64::from(self.load) / f64::from(self.capacity)
        }
    }

    /// Whether it can take one more task: available and with a free slot.
    #[must_use]
    pub fn can_take(&self) -> bool {
        self.available && self.free() > 0
    }

    /// Whether it can take one more task that requires `required`: [`can_take`](Self::can_take)
    /// and holding every required capability.
    #[must_use]
    pub fn can_serve(&self, required: &Capabilities) -> bool {
        self.can_take() && required.is_subset_of(&self.capabilities)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(load: u32, capacity: u32) -> AgentSnapshot {
        AgentSnapshot {
            load,
            ..AgentSnapshot::new(
                AgentId::parse("a").unwrap(),
                InstanceId::from_u128(1),
                capacity,
            )
        }
    }

    #[test]
    fn free_slots_never_go_below_zero() {
        assert_eq!(agent(1, 4).free(), 3);
        assert_eq!(agent(4, 4).free(), 0);
        assert_eq!(
            agent(6, 4).free(),
            0,
            "an overloaded agent has no free slot"
        );
    }

    #[test]
    fn utilisation_is_load_over_capacity_and_zero_capacity_counts_as_full() {
        assert!((agent(1, 4).utilisation() - 0.25).abs() < f64::EPSILON);
        assert!((agent(0, 0).utilisation() - 1.0).abs() < f64::EPSILON);
        assert!(agent(6, 4).utilisation() > 1.0);
    }

    #[test]
    fn an_agent_takes_work_only_when_available_with_a_free_slot() {
        assert!(agent(3, 4).can_take());
        assert!(!agent(4, 4).can_take());
        let offline = AgentSnapshot {
            available: false,
            ..agent(0, 4)
        };
        assert!(!offline.can_take());
    }

    #[test]
    fn serving_requires_every_capability() {
        let rust_gpu = AgentSnapshot {
            capabilities: Capabilities::parse(["rust", "gpu"]).unwrap(),
            ..agent(0, 1)
        };
        assert!(rust_gpu.can_serve(&Capabilities::parse(["rust"]).unwrap()));
        assert!(rust_gpu.can_serve(&Capabilities::none()));
        assert!(!rust_gpu.can_serve(&Capabilities::parse(["rust", "go"]).unwrap()));
    }
}
