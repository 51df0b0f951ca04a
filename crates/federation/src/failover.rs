//! Failover planning: when an instance fails, which work goes back to the queue, which sessions
//! move to which agents, and which cannot move.
//!
//! [`plan_failover`] only plans. The engine carries a [`FailoverPlan`] out: it fails over the
//! agents' leases in the queue, moves sessions through `migrating` from their last checkpoint,
//! and ends the rest in `error`.

use std::cmp::Reverse;

use godel_types::{AgentId, Capabilities, InstanceId, SessionId, SessionState};
use rustc_hash::FxHashSet;

/// Where a session lives now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPlacement {
    /// The session.
    pub session: SessionId,
    /// The agent it runs on.
    pub agent: AgentId,
    /// The instance that agent belongs to.
    pub instance: InstanceId,
    /// The session's state.
    pub state: SessionState,
}

/// An agent that could take over sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The agent.
    pub agent: AgentId,
    /// Its instance.
    pub instance: InstanceId,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Sessions it can still take.
    pub free: u32,
}

/// What to do about a failed instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailoverPlan {
    /// Agents of the failed instance whose leased tasks go back to the queue, each once.
    pub requeue_agents: Vec<AgentId>,
    /// Every non-terminal session of the failed instance, once: `Migrating` if it moves (it is
    /// then in `repoint` too), `Error` if no candidate can take it.
    pub mark_sessions: Vec<(SessionId, SessionState)>,
    /// The new agent of every session that moves.
    pub repoint: Vec<(SessionId, AgentId)>,
}

impl FailoverPlan {
    /// Whether the plan does nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.requeue_agents.is_empty() && self.mark_sessions.is_empty()
    }
}

/// Plans the failover of instance `failed`, with no capability requirement on where sessions
/// go. See [`plan_failover_requiring`].
#[must_use]
pub fn plan_failover(
    failed: InstanceId,
    agents_on_failed: &[AgentId],
    sessions: &[SessionPlacement],
    candidates: &[Candidate],
) -> FailoverPlan {
    plan_failover_requiring(failed, agents_on_failed, sessions, candidates, |_| {
        Capabilities::none()
    })
}

/// Plans the failover of instance `failed`; a session only moves to a candidate having every
/// capability `required` returns for it (e.g. its old agent's capabilities).
///
/// - `requeue_agents`: `agents_on_failed`, then any other agent with a session placed on
///   `failed`, without duplicates, in that order.
/// - Only sessions placed on `failed` and not terminal are touched, each once (the first
///   placement of a session listed twice counts), in the order given.
/// - Each goes to the capable candidate with the most free capacity left, ties to the smallest
///   agent id: so sessions spread over the least loaded agents first. Candidates on `failed`,
///   agents of `failed` and candidates without free capacity are never chosen, and no candidate
///   gets more sessions than its `free` (a candidate listed twice counts once, as first listed).
/// - A session no candidate can take is marked `Error`.
///
/// The same inputs always give the same plan.
#[must_use]
pub fn plan_failover_requiring<F>(
    failed: InstanceId,
    agents_on_failed: &[AgentId],
    sessions: &[SessionPlacement],
    candidates: &[Candidate],
    mut required: F,
) -> FailoverPlan
where
    F: FnMut(&SessionPlacement) -> Capabilities,
{
    let mut plan = FailoverPlan::default();

    let mut failed_agents = FxHashSet::default();
    let agents_with_sessions = sessions
        .iter()
        .filter(|s| s.instance == failed)
        .map(|s| &s.agent);
    for agent in agents_on_failed.iter().chain(agents_with_sessions) {
        if failed_agents.insert(agent) {
            plan.requeue_agents.push(agent.clone());
        }
    }

    let mut seen_agents = FxHashSet::default();
    let mut slots: Vec<Slot<'_>> = candidates
        .iter()
        .filter(|c| seen_agents.insert(&c.agent))
        .filter(|c| c.instance != failed && c.free > 0 && !failed_agents.contains(&c.agent))
        .map(|c| Slot {
            candidate: c,
            left: c.free,
        })
        .collect();

    let mut seen_sessions = FxHashSet::default();
    for placement in sessions {
        if !seen_sessions.insert(placement.session) {
            continue;
        }
        if placement.instance != failed || placement.state.is_terminal() {
            continue;
        }
        let needs = required(placement);
        let target = slots
            .iter_mut()
            .filter(|s| s.left > 0 && needs.is_subset_of(&s.candidate.capabilities))
            .max_by_key(|s| (s.left, Reverse(&s.candidate.agent)));
        match target {
            Some(slot) => {
                slot.left -= 1;
                plan.mark_sessions
                    .push((placement.session, SessionState::Migrating));
                plan.repoint
                    .push((placement.session, slot.candidate.agent.clone()));
            }
            None => plan
                .mark_sessions
                .push((placement.session, SessionState::Error)),
        }
    }
    plan
}

/// A candidate and the sessions it can still take within this plan.
struct Slot<'a> {
    candidate: &'a Candidate,
    left: u32,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rustc_hash::FxHashMap;

    use super::*;

    const FAILED: InstanceId = InstanceId::from_u128(1);
    const OTHER: InstanceId = InstanceId::from_u128(2);
    const THIRD: InstanceId = InstanceId::from_u128(3);

    fn agent(name: &str) -> AgentId {
        AgentId::parse(name).unwrap()
    }

    fn session(n: u128) -> SessionId {
        SessionId::from_u128(n)
    }

    fn placed(
        n: u128,
        agent_name: &str,
        instance: InstanceId,
        state: SessionState,
    ) -> SessionPlacement {
        SessionPlacement {
            session: session(n),
            agent: agent(agent_name),
            instance,
            state,
        }
    }

    fn candidate(name: &str, instance: InstanceId, free: u32) -> Candidate {
        Candidate {
            agent: agent(name),
            instance,
            capabilities: Capabilities::none(),
            free,
        }
    }

    #[test]
    fn agents_of_the_failed_instance_are_requeued_once() {
        let plan = plan_failover(
            FAILED,
            &[agent("a1"), agent("a2"), agent("a1")],
            &[placed(1, "a3", FAILED, SessionState::Ready)],
            &[],
        );
        assert_eq!(plan.requeue_agents, [agent("a1"), agent("a2"), agent("a3")]);
    }

    #[test]
    fn only_live_sessions_of_the_failed_instance_are_touched() {
        let sessions = [
            placed(1, "a1", FAILED, SessionState::Running),
            placed(2, "a1", FAILED, SessionState::Completed),
            placed(3, "b1", OTHER, SessionState::Running),
            placed(4, "a1", FAILED, SessionState::Paused),
        ];
        let plan = plan_failover(
            FAILED,
            &[agent("a1")],
            &sessions,
            &[candidate("b1", OTHER, 5)],
        );
        let touched: Vec<_> = plan.mark_sessions.iter().map(|(s, _)| *s).collect();
        assert_eq!(touched, [session(1), session(4)]);
    }

    #[test]
    fn sessions_move_to_the_least_loaded_candidates_first() {
        let sessions: Vec<_> = (1..=4)
            .map(|n| placed(n, "a1", FAILED, SessionState::Running))
            .collect();
        let candidates = [
            candidate("b1", OTHER, 1),
            candidate("c1", THIRD, 3),
            candidate("b2", OTHER, 2),
        ];
        let plan = plan_failover(FAILED, &[agent("a1")], &sessions, &candidates);
        let targets: Vec<_> = plan.repoint.iter().map(|(_, a)| a.as_str()).collect();
        // c1 (3 free) first; then c1 and b2 tie at 2, the smaller id wins; and so on.
        assert_eq!(targets, ["c1", "b2", "c1", "b1"]);
        assert!(
            plan.mark_sessions
                .iter()
                .all(|(_, s)| *s == SessionState::Migrating)
        );
    }

    #[test]
    fn sessions_without_a_candidate_are_marked_error() {
        let sessions = [
            placed(1, "a1", FAILED, SessionState::Running),
            placed(2, "a1", FAILED, SessionState::Ready),
        ];
        let plan = plan_failover(
            FAILED,
            &[agent("a1")],
            &sessions,
            &[candidate("b1", OTHER, 1)],
        );
        assert_eq!(
            plan.mark_sessions,
            [
                (session(1), SessionState::Migrating),
                (session(2), SessionState::Error)
            ]
        );
        assert_eq!(plan.repoint, [(session(1), agent("b1"))]);
    }

    #[test]
    fn never_onto_the_failed_instance_or_its_agents() {
        let sessions = [placed(1, "a1", FAILED, SessionState::Running)];
        let candidates = [
            candidate("a2", FAILED, 10),
            candidate("a1", OTHER, 10),
            candidate("b1", OTHER, 0),
        ];
        let plan = plan_failover(FAILED, &[agent("a1")], &sessions, &candidates);
        assert_eq!(plan.mark_sessions, [(session(1), SessionState::Error)]);
        assert!(plan.repoint.is_empty());
    }

    #[test]
    fn required_capabilities_limit_where_a_session_may_go() {
        let gpu = Capabilities::parse(["gpu"]).unwrap();
        let mut capable = candidate("c1", THIRD, 1);
        capable.capabilities = gpu.clone();
        let candidates = [candidate("b1", OTHER, 5), capable];
        let sessions = [
            placed(1, "a1", FAILED, SessionState::Running),
            placed(2, "a1", FAILED, SessionState::Running),
        ];
        let plan = plan_failover_requiring(FAILED, &[], &sessions, &candidates, |_| gpu.clone());
        assert_eq!(plan.repoint, [(session(1), agent("c1"))]);
        assert_eq!(plan.mark_sessions[1], (session(2), SessionState::Error));
    }

    #[test]
    fn an_instance_with_nothing_on_it_plans_nothing() {
        let plan = plan_failover(FAILED, &[], &[], &[candidate("b1", OTHER, 1)]);
        assert!(plan.is_empty());
    }

    const STATES: &[SessionState] = SessionState::ALL;

    fn inputs() -> impl Strategy<Value = (Vec<SessionPlacement>, Vec<Candidate>)> {
        let placement = (1..40u128, 0..6usize, 1..4u128, 0..STATES.len()).prop_map(
            |(n, agent_n, instance, state)| SessionPlacement {
                session: SessionId::from_u128(n),
                agent: agent(&format!("i{instance}-a{agent_n}")),
                instance: InstanceId::from_u128(instance),
                state: STATES[state],
            },
        );
        let cand = (0..6usize, 1..4u128, 0..5u32).prop_map(|(agent_n, instance, free)| Candidate {
            agent: agent(&format!("i{instance}-a{agent_n}")),
            instance: InstanceId::from_u128(instance),
            capabilities: Capabilities::none(),
            free,
        });
        (
            proptest::collection::vec(placement, 0..40),
            proptest::collection::vec(cand, 0..12),
        )
    }

    proptest! {
        #[test]
        fn plans_respect_the_failed_instance_capacity_and_touch_each_session_once(
            (sessions, candidates) in inputs(),
        ) {
            let plan = plan_failover(FAILED, &[], &sessions, &candidates);

            // Each live session of the failed instance is marked exactly once, and nothing else.
            let mut expected = Vec::new();
            let mut seen = FxHashSet::default();
            for s in &sessions {
                if seen.insert(s.session) && s.instance == FAILED && !s.state.is_terminal() {
                    expected.push(s.session);
                }
            }
            let marked: Vec<_> = plan.mark_sessions.iter().map(|(s, _)| *s).collect();
            prop_assert_eq!(&marked, &expected);

            // Exactly the migrating sessions are re-pointed.
            let migrating: Vec<_> = plan
                .mark_sessions
                .iter()
                .filter(|(_, st)| *st == SessionState::Migrating)
                .map(|(s, _)| *s)
                .collect();
            let repointed: Vec<_> = plan.repoint.iter().map(|(s, _)| *s).collect();
            prop_assert_eq!(&migrating, &repointed);
            prop_assert!(plan
                .mark_sessions
                .iter()
                .all(|(_, st)| matches!(st, SessionState::Migrating | SessionState::Error)));

            // Never onto the failed instance, never past a candidate's free capacity.
            let mut first: FxHashMap<&AgentId, &Candidate> = FxHashMap::default();
            for c in &candidates {
                first.entry(&c.agent).or_insert(c);
            }
            let mut given: FxHashMap<&AgentId, u32> = FxHashMap::default();
            for (_, a) in &plan.repoint {
                let c = first.get(a);
                prop_assert!(c.is_some_and(|c| c.instance != FAILED));
                *given.entry(a).or_default() += 1;
            }
            for (a, n) in &given {
                prop_assert!(*n <= first[a].free);
            }

            // A session is marked error only when every usable candidate is full.
            if plan.mark_sessions.iter().any(|(_, st)| *st == SessionState::Error) {
                let usable: u32 = first
                    .values()
                    .filter(|c| c.instance != FAILED && !plan.requeue_agents.contains(&c.agent))
                    .map(|c| c.free)
                    .sum();
                prop_assert_eq!(plan.repoint.len() as u32, usable);
            }

            // Deterministic.
            prop_assert_eq!(plan, plan_failover(FAILED, &[], &sessions, &candidates));
        }
    }
}
