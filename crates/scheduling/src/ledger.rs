//! [`LoadLedger`]: per-agent load bookkeeping the engine keeps between store reads.

use std::collections::BTreeMap;

use godel_types::AgentId;

use crate::error::SchedulingError;

/// One agent's entry in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentLoad {
    /// Tasks running on it now.
    pub load: u32,
    /// Most tasks it may run at once.
    pub capacity: u32,
}

impl AgentLoad {
    /// Free slots: `capacity - load`, or 0 at or over capacity.
    #[must_use]
    pub fn free(&self) -> u32 {
        self.capacity.saturating_sub(self.load)
    }

    /// `load / capacity`; 1.0 (full) when the capacity is 0.
    #[must_use]
    pub fn utilisation(&self) -> f64 {
        ratio(self.load, self.capacity)
    }
}

/// `load / capacity`, with zero capacity counting as full.
fn ratio(load: u32, capacity: u32) -> f64 {
    if capacity == 0 {
        1.0
    } else {
        f64::from(load) / f64::from(capacity)
    }
}

/// Load and capacity per agent. Loads never wrap: an assignment beyond capacity and a release
/// below zero are errors that leave the ledger unchanged. Iteration is in agent-id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadLedger {
    agents: BTreeMap<AgentId, AgentLoad>,
}

impl LoadLedger {
    /// An empty ledger.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an agent's capacity, adding it with load 0 if it is new. Lowering the capacity below
    /// the current load is allowed (the agent is then full until enough tasks are released).
    pub fn set_capacity(&mut self, agent: AgentId, capacity: u32) {
        self.agents.entry(agent).or_default().capacity = capacity;
    }

    /// Overwrites an agent's load with what the store says, adding it with capacity 0 if it is
    /// new. For resynchronising after a store read; may exceed the capacity.
    pub fn set_load(&mut self, agent: AgentId, load: u32) {
        self.agents.entry(agent).or_default().load = load;
    }

    /// Forgets an agent (it left the fleet), returning its last entry.
    pub fn remove(&mut self, agent: &AgentId) -> Option<AgentLoad> {
        self.agents.remove(agent)
    }

    /// Counts one more task on `agent`; returns its new load.
    ///
    /// # Errors
    /// [`SchedulingError::UnknownAgent`] when the agent has no entry;
    /// [`SchedulingError::AgentFull`] when it has no free slot. The ledger is unchanged.
    pub fn assign(&mut self, agent: &AgentId) -> Result<u32, SchedulingError> {
        let entry = self.entry_mut(agent)?;
        if entry.free() == 0 {
            return Err(SchedulingError::AgentFull {
                agent: agent.clone(),
                load: entry.load,
                capacity: entry.capacity,
            });
        }
        entry.load += 1;
        Ok(entry.load)
    }

    /// Counts one task fewer on `agent`; returns its new load.
    ///
    /// # Errors
    /// [`SchedulingError::UnknownAgent`] when the agent has no entry;
    /// [`SchedulingError::NothingToRelease`] when its load is already 0. The ledger is unchanged.
    pub fn release(&mut self, agent: &AgentId) -> Result<u32, SchedulingError> {
        let entry = self.entry_mut(agent)?;
        entry.load =
            entry
                .load
                .checked_sub(1)
                .ok_or_else(|| SchedulingError::NothingToRelease {
                    agent: agent.clone(),
                })?;
        Ok(entry.load)
    }

    /// The agent's load; 0 for an agent not in the ledger.
    #[must_use]
    pub fn load(&self, agent: &AgentId) -> u32 {
        self.agents.get(agent).map_or(0, |e| e.load)
    }

    /// The agent's entry, if it has one.
    #[must_use]
    pub fn get(&self, agent: &AgentId) -> Option<AgentLoad> {
        self.agents.get(agent).copied()
    }

    /// Every entry, in agent-id order.
    pub fn iter(&self) -> impl Iterator<Item = (&AgentId, AgentLoad)> {
        self.agents.iter().map(|(id, load)| (id, *load))
    }

    /// A copy of every entry, in agent-id order.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(AgentId, AgentLoad)> {
        self.iter().map(|(id, load)| (id.clone(), load)).collect()
    }

    /// How many agents the ledger holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether the ledger holds no agent.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// Tasks running across all agents (saturating at `u32::MAX`).
    #[must_use]
    pub fn total_load(&self) -> u32 {
        self.agents
            .values()
            .fold(0u32, |sum, e| sum.saturating_add(e.load))
    }

    /// Slots across all agents (saturating at `u32::MAX`).
    #[must_use]
    pub fn total_capacity(&self) -> u32 {
        self.agents
            .values()
            .fold(0u32, |sum, e| sum.saturating_add(e.capacity))
    }

    /// Pool utilisation, `total_load / total_capacity`; 1.0 (full) when there is no capacity.
    #[must_use]
    pub fn utilisation(&self) -> f64 {
        ratio(self.total_load(), self.total_capacity())
    }

    fn entry_mut(&mut self, agent: &AgentId) -> Result<&mut AgentLoad, SchedulingError> {
        self.agents
            .get_mut(agent)
            .ok_or_else(|| SchedulingError::UnknownAgent {
                agent: agent.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> AgentId {
        AgentId::parse(name).unwrap()
    }

    fn ledger(entries: &[(&str, u32, u32)]) -> LoadLedger {
        let mut ledger = LoadLedger::new();
        for &(name, load, capacity) in entries {
            ledger.set_capacity(id(name), capacity);
            ledger.set_load(id(name), load);
        }
        ledger
    }

    #[test]
    fn assign_and_release_count_tasks_per_agent() {
        let mut ledger = ledger(&[("a", 0, 2)]);
        assert_eq!(ledger.assign(&id("a")), Ok(1));
        assert_eq!(ledger.assign(&id("a")), Ok(2));
        assert_eq!(ledger.release(&id("a")), Ok(1));
        assert_eq!(ledger.load(&id("a")), 1);
        assert_eq!(ledger.get(&id("a")).unwrap().free(), 1);
    }

    #[test]
    fn assigning_to_a_full_agent_is_an_error_and_changes_nothing() {
        let mut ledger = ledger(&[("a", 2, 2)]);
        let before = ledger.clone();
        let err = ledger.assign(&id("a")).unwrap_err();
        assert!(matches!(
            err,
            SchedulingError::AgentFull {
                load: 2,
                capacity: 2,
                ..
            }
        ));
        assert_eq!(ledger, before);
    }

    #[test]
    fn releasing_below_zero_is_an_error_never_a_wrap() {
        let mut ledger = ledger(&[("a", 0, 2)]);
        let err = ledger.release(&id("a")).unwrap_err();
        assert_eq!(err, SchedulingError::NothingToRelease { agent: id("a") });
        assert_eq!(ledger.load(&id("a")), 0);
    }

    #[test]
    fn unknown_agents_are_errors_for_assign_and_release_and_idle_for_load() {
        let mut ledger = LoadLedger::new();
        assert!(matches!(
            ledger.assign(&id("x")),
            Err(SchedulingError::UnknownAgent { .. })
        ));
        assert!(matches!(
            ledger.release(&id("x")),
            Err(SchedulingError::UnknownAgent { .. })
        ));
        assert_eq!(ledger.load(&id("x")), 0);
        assert!(ledger.is_empty());
    }

    #[test]
    fn lowering_capacity_below_load_leaves_the_agent_full_until_released() {
        let mut ledger = ledger(&[("a", 3, 4)]);
        ledger.set_capacity(id("a"), 2);
        assert!(ledger.assign(&id("a")).is_err());
        assert_eq!(ledger.release(&id("a")), Ok(2));
        assert_eq!(ledger.release(&id("a")), Ok(1));
        assert_eq!(ledger.assign(&id("a")), Ok(2));
    }

    #[test]
    fn totals_and_utilisation_cover_the_whole_pool() {
        let ledger = ledger(&[("b", 1, 4), ("a", 2, 4)]);
        assert_eq!((ledger.total_load(), ledger.total_capacity()), (3, 8));
        assert!((ledger.utilisation() - 0.375).abs() < f64::EPSILON);
        assert!((LoadLedger::new().utilisation() - 1.0).abs() < f64::EPSILON);
        let ids: Vec<_> = ledger.snapshot().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [id("a"), id("b")], "snapshots are in agent-id order");
    }

    #[test]
    fn totals_saturate_instead_of_wrapping() {
        let ledger = ledger(&[("a", u32::MAX, u32::MAX), ("b", 1, 1)]);
        assert_eq!(ledger.total_load(), u32::MAX);
        assert_eq!(ledger.total_capacity(), u32::MAX);
    }

    #[test]
    fn removing_an_agent_forgets_its_load() {
        let mut ledger = ledger(&[("a", 1, 2)]);
        assert_eq!(
            ledger.remove(&id("a")),
            Some(AgentLoad {
                load: 1,
                capacity: 2
            })
        );
        assert_eq!(ledger.total_load(), 0);
        assert_eq!(ledger.len(), 0);
    }
}
