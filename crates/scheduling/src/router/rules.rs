//! The rules behind each strategy: who is a candidate, how pickers rank, the geo tiers and the
//! round-robin rotation. Every ranking here is a total order that ends on the agent id, which is
//! what makes routing deterministic and independent of the order agents are listed in.

use std::cmp::Ordering;

use godel_types::AgentId;

use crate::agent::AgentSnapshot;
use crate::router::RouteRequest;

/// The agents that may take `request` at all: available, with a free slot, and holding every
/// required capability. No strategy ever looks beyond this set.
pub(super) fn candidates<'a>(
    request: &RouteRequest,
    agents: &'a [AgentSnapshot],
) -> Vec<&'a AgentSnapshot> {
    agents
        .iter()
        .filter(|a| a.can_serve(&request.capabilities))
        .collect()
}

/// Utilisation as an exact fraction `(load, capacity)` with a positive denominator; zero capacity
/// counts as full (`1/1`), as in [`AgentSnapshot::utilisation`].
fn utilisation_fraction(agent: &AgentSnapshot) -> (u64, u64) {
    if agent.capacity == 0 {
        (1, 1)
    } else {
        (u64::from(agent.load), u64::from(agent.capacity))
    }
}

/// Least loaded first: lower utilisation, then more free slots, then smaller agent id.
/// Utilisations are compared as exact fractions, never as floats.
pub(super) fn by_least_loaded(a: &AgentSnapshot, b: &AgentSnapshot) -> Ordering {
    let (a_load, a_cap) = utilisation_fraction(a);
    let (b_load, b_cap) = utilisation_fraction(b);
    (a_load * b_cap)
        .cmp(&(b_load * a_cap))
        .then_with(|| b.free().cmp(&a.free()))
        .then_with(|| a.id.cmp(&b.id))
}

/// Best capability match first: fewer capabilities in all (among candidates, which all hold the
/// required ones, that is fewer beyond those required), then [`by_least_loaded`].
pub(super) fn by_capability_match(a: &AgentSnapshot, b: &AgentSnapshot) -> Ordering {
    a.capabilities
        .len()
        .cmp(&b.capabilities.len())
        .then_with(|| by_least_loaded(a, b))
}

/// The request's affinity agent, if it is among the candidates.
pub(super) fn affinity<'a>(
    request: &RouteRequest,
    candidates: &[&'a AgentSnapshot],
) -> Option<&'a AgentSnapshot> {
    let wanted = request.affinity.as_ref()?;
    candidates.iter().copied().find(|a| &a.id == wanted)
}

/// Whether `agent` is in the preferred zone (and, when a region is preferred too, that region).
fn in_zone(request: &RouteRequest, agent: &AgentSnapshot) -> bool {
    let Some(zone) = request.zone.as_deref() else {
        return false;
    };
    agent.zone.as_deref() == Some(zone)
        && request
            .region
            .as_deref()
            .is_none_or(|region| agent.region.as_deref() == Some(region))
}

/// Whether `agent` is in the preferred region.
fn in_region(request: &RouteRequest, agent: &AgentSnapshot) -> bool {
    request
        .region
        .as_deref()
        .is_some_and(|region| agent.region.as_deref() == Some(region))
}

/// `GeoAware` as a filter: the candidates in the preferred zone if any, else those in the
/// preferred region if any; `None` (fall through) otherwise.
pub(super) fn geo_narrow<'a>(
    request: &RouteRequest,
    candidates: &[&'a AgentSnapshot],
) -> Option<Vec<&'a AgentSnapshot>> {
    for matches in [in_zone, in_region] {
        let narrowed: Vec<_> = candidates
            .iter()
            .copied()
            .filter(|a| matches(request, a))
            .collect();
        if !narrowed.is_empty() {
            return Some(narrowed);
        }
    }
    None
}

/// `GeoAware` as a ranking: the group split into tiers, nearest first (preferred zone, then the
/// rest of the preferred region, then everywhere else), empty tiers left out. The first tier is
/// exactly what [`geo_narrow`] keeps, or the whole group when it falls through.
pub(super) fn geo_tiers<'a>(
    request: &RouteRequest,
    group: Vec<&'a AgentSnapshot>,
) -> Vec<Vec<&'a AgentSnapshot>> {
    let (zone, rest): (Vec<_>, Vec<_>) = group.into_iter().partition(|a| in_zone(request, a));
    let (region, elsewhere): (Vec<_>, Vec<_>) =
        rest.into_iter().partition(|a| in_region(request, a));
    [zone, region, elsewhere]
        .into_iter()
        .filter(|tier| !tier.is_empty())
        .collect()
}

/// `RoundRobin` as a pick: the smallest agent id after `last`, wrapping to the smallest overall.
pub(super) fn round_robin<'a>(
    candidates: &[&'a AgentSnapshot],
    last: Option<&AgentId>,
) -> Option<&'a AgentSnapshot> {
    let by_id = |a: &&AgentSnapshot, b: &&AgentSnapshot| a.id.cmp(&b.id);
    let after_last = last.and_then(|last| {
        candidates
            .iter()
            .copied()
            .filter(|a| &a.id > last)
            .min_by(by_id)
    });
    after_last.or_else(|| candidates.iter().copied().min_by(by_id))
}

/// `RoundRobin` as a ranking: the group sorted by id and rotated so it starts where
/// [`round_robin`] would pick.
pub(super) fn round_robin_order(group: &mut [&AgentSnapshot], last: Option<&AgentId>) {
    group.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(last) = last {
        let start = group.partition_point(|a| &a.id <= last);
        group.rotate_left(start);
    }
}
