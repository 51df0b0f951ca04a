//! [`Router`]: a fallback chain of [`Strategy`]s that places a task slot or a new session on an
//! agent, and ranks agents for the dispatcher.

mod rules;

use godel_types::{AgentId, Capabilities, InstanceId};

use crate::agent::AgentSnapshot;
use crate::strategy::Strategy;

/// What is being placed: a task slot or a new session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteRequest {
    /// Capabilities the agent must have, all of them.
    pub capabilities: Capabilities,
    /// The agent that holds the session or team to stick to.
    pub affinity: Option<AgentId>,
    /// Preferred region.
    pub region: Option<String>,
    /// Preferred zone. When a region is preferred too, a zone match must also be in that region.
    pub zone: Option<String>,
}

/// Where the router placed a request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The chosen agent.
    pub agent: AgentId,
    /// The instance it runs on.
    pub instance: InstanceId,
    /// The strategy that picked it; [`Strategy::LeastLoaded`] also when the whole chain fell
    /// through to the last resort.
    pub strategy: Strategy,
}

/// A fallback chain of strategies plus the little state round-robin needs (the agent it picked
/// last). Same router state and same input give the same output.
///
/// **Filter vs pick.** Every strategy sees the current candidates and does one of three things:
/// it *picks* one agent (the chain stops and that agent is the decision), it *narrows* the
/// candidates and hands the smaller set to the next strategy, or it *falls through* (cannot
/// apply) and hands the same set on. `GeoAware` is the only filter; `SessionAffinity` picks or
/// falls through; `CapabilityMatch`, `LeastLoaded` and `RoundRobin` always pick when there is a
/// candidate, so strategies after them are never reached. When the whole chain passes without a
/// pick, the last resort is least-loaded among the candidates that remain. A typical chain is
/// `session-affinity, geo-aware, capability-match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    chain: Vec<Strategy>,
    last_round_robin: Option<AgentId>,
}

impl Default for Router {
    /// A router with the chain `[least-loaded]`.
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Router {
    /// A router trying `chain` in order; an empty chain means `[least-loaded]`.
    #[must_use]
    pub fn new(chain: Vec<Strategy>) -> Self {
        let chain = if chain.is_empty() {
            vec![Strategy::LeastLoaded]
        } else {
            chain
        };
        Self {
            chain,
            last_round_robin: None,
        }
    }

    /// The strategies, in the order they are tried.
    #[must_use]
    pub fn chain(&self) -> &[Strategy] {
        &self.chain
    }

    /// The agent to use for `request`, or `None` if no agent can take it.
    ///
    /// Candidates are the agents that are available, have a free slot and hold every required
    /// capability; the decision is always one of them, and `None` means there is none. The chain
    /// is applied as described on [`Router`]. Moves the round-robin cursor only when
    /// `RoundRobin` made the pick.
    pub fn route(&mut self, request: &RouteRequest, agents: &[AgentSnapshot]) -> Option<Decision> {
        let mut candidates = rules::candidates(request, agents);
        if candidates.is_empty() {
            return None;
        }
        let mut decided = None;
        for &strategy in &self.chain {
            let pick = match strategy {
                Strategy::SessionAffinity => rules::affinity(request, &candidates),
                Strategy::GeoAware => {
                    if let Some(narrowed) = rules::geo_narrow(request, &candidates) {
                        candidates = narrowed;
                    }
                    None
                }
                Strategy::CapabilityMatch => candidates
                    .iter()
                    .copied()
                    .min_by(|a, b| rules::by_capability_match(a, b)),
                Strategy::LeastLoaded => least_loaded(&candidates),
                Strategy::RoundRobin => {
                    rules::round_robin(&candidates, self.last_round_robin.as_ref())
                }
            };
            if let Some(agent) = pick {
                decided = Some((agent, strategy));
                break;
            }
        }
        let (agent, strategy) = decided
            .or_else(|| least_loaded(&candidates).map(|agent| (agent, Strategy::LeastLoaded)))?;
        if strategy == Strategy::RoundRobin {
            self.last_round_robin = Some(agent.id.clone());
        }
        Some(Decision {
            agent: agent.id.clone(),
            instance: agent.instance,
            strategy,
        })
    }

    /// Every candidate for `request` (same filtering as [`route`](Self::route)), in the order
    /// they should be offered work; the dispatcher lets them claim in this order.
    ///
    /// The order generalises the chain: an affinity agent comes first; `GeoAware` ranks the
    /// preferred zone, then the rest of the preferred region, then everywhere else, each tier
    /// ordered by the rest of the chain; a picker orders its whole set by its own rule. So the
    /// first agent is always the one `route` would pick, and the round-robin cursor moves exactly
    /// as `route` would move it.
    pub fn order(&mut self, request: &RouteRequest, agents: &[AgentSnapshot]) -> Vec<AgentId> {
        let candidates = rules::candidates(request, agents);
        let mut ranked = Vec::with_capacity(candidates.len());
        let head = rank(
            &self.chain,
            self.last_round_robin.as_ref(),
            request,
            candidates,
            &mut ranked,
        );
        if head == Some(Strategy::RoundRobin) {
            self.last_round_robin = ranked.first().map(|a| a.id.clone());
        }
        ranked.into_iter().map(|a| a.id.clone()).collect()
    }
}

/// The least-loaded candidate (the last resort of every chain).
fn least_loaded<'a>(candidates: &[&'a AgentSnapshot]) -> Option<&'a AgentSnapshot> {
    candidates
        .iter()
        .copied()
        .min_by(|a, b| rules::by_least_loaded(a, b))
}

/// Appends `group` to `out` in the order `chain` gives it; returns the strategy that placed the
/// first agent appended, or `None` when `group` is empty.
fn rank<'a>(
    chain: &[Strategy],
    last_round_robin: Option<&AgentId>,
    request: &RouteRequest,
    mut group: Vec<&'a AgentSnapshot>,
    out: &mut Vec<&'a AgentSnapshot>,
) -> Option<Strategy> {
    if group.is_empty() {
        return None;
    }
    let Some((&strategy, rest)) = chain.split_first() else {
        group.sort_by(|a, b| rules::by_least_loaded(a, b));
        out.extend(group);
        return Some(Strategy::LeastLoaded);
    };
    match strategy {
        Strategy::SessionAffinity => {
            let position = request
                .affinity
                .as_ref()
                .and_then(|wanted| group.iter().position(|a| &a.id == wanted));
            let Some(position) = position else {
                return rank(rest, last_round_robin, request, group, out);
            };
            out.push(group.remove(position));
            rank(rest, last_round_robin, request, group, out);
        }
        Strategy::GeoAware => {
            let mut head = None;
            for tier in rules::geo_tiers(request, group) {
                let tier_head = rank(rest, last_round_robin, request, tier, out);
                head = head.or(tier_head);
            }
            return head;
        }
        Strategy::CapabilityMatch => {
            group.sort_by(|a, b| rules::by_capability_match(a, b));
            out.extend(group);
        }
        Strategy::LeastLoaded => {
            group.sort_by(|a, b| rules::by_least_loaded(a, b));
            out.extend(group);
        }
        Strategy::RoundRobin => {
            rules::round_robin_order(&mut group, last_round_robin);
            out.extend(group);
        }
    }
    Some(strategy)
}

#[cfg(test)]
mod tests;
