//! Property tests of the router and of fair shares: the invariants that must hold for every
//! fleet, request, chain and demand, not just the hand-picked examples in the unit tests.

use std::collections::BTreeMap;

use godel_scheduling::{AgentSnapshot, RouteRequest, Router, Strategy, fair_shares};
use godel_types::{AgentId, Capabilities, InstanceId, TenantId};
use proptest::prelude::*;
use proptest::strategy::Strategy as Gen;

const CAPABILITIES: [&str; 4] = ["gpu", "go", "python", "rust"];
const REGIONS: [&str; 2] = ["eu", "us"];
const ZONES: [&str; 3] = ["z1", "z2", "z3"];

fn capability_set() -> impl Gen<Value = Capabilities> {
    prop::sample::subsequence(CAPABILITIES.to_vec(), 0..=CAPABILITIES.len())
        .prop_map(|names| Capabilities::parse(names).unwrap())
}

fn place<const N: usize>(names: [&'static str; N]) -> impl Gen<Value = Option<String>> {
    prop::option::of(prop::sample::select(names.to_vec()).prop_map(str::to_owned))
}

fn agent_state() -> impl Gen<Value = (Option<String>, Option<String>, Capabilities, u32, u32, bool)>
{
    (
        place(REGIONS),
        place(ZONES),
        capability_set(),
        0..12u32,
        0..12u32,
        prop::bool::weighted(0.8),
    )
}

/// Up to 8 agents with distinct ids `agent-0`, `agent-1`, ...
fn fleet() -> impl Gen<Value = Vec<AgentSnapshot>> {
    prop::collection::vec(agent_state(), 0..8).prop_map(|states| {
        states
            .into_iter()
            .enumerate()
            .map(
                |(i, (region, zone, capabilities, load, capacity, available))| AgentSnapshot {
                    id: AgentId::parse(&format!("agent-{i}")).unwrap(),
                    instance: InstanceId::from_u128(i as u128 % 3),
                    region,
                    zone,
                    capabilities,
                    load,
                    capacity,
                    available,
                },
            )
            .collect()
    })
}

fn request() -> impl Gen<Value = RouteRequest> {
    (
        prop::sample::subsequence(CAPABILITIES.to_vec(), 0..=2),
        prop::option::of(0..10usize),
        place(REGIONS),
        place(ZONES),
    )
        .prop_map(|(capabilities, affinity, region, zone)| RouteRequest {
            capabilities: Capabilities::parse(capabilities).unwrap(),
            affinity: affinity.map(|i| AgentId::parse(&format!("agent-{i}")).unwrap()),
            region,
            zone,
        })
}

fn chain() -> impl Gen<Value = Vec<Strategy>> {
    prop::collection::vec(prop::sample::select(Strategy::ALL.to_vec()), 0..5)
}

/// A router that has already routed a few requests, so its round-robin cursor is anywhere.
fn warmed_router() -> impl Gen<Value = Router> {
    (chain(), prop::collection::vec((request(), fleet()), 0..3)).prop_map(|(chain, history)| {
        let mut router = Router::new(chain);
        for (request, agents) in history {
            router.route(&request, &agents);
        }
        router
    })
}

fn eligible(agent: &AgentSnapshot, request: &RouteRequest) -> bool {
    agent.available
        && agent.load < agent.capacity
        && request.capabilities.is_subset_of(&agent.capabilities)
}

proptest! {
    #[test]
    fn route_only_picks_an_available_agent_with_a_free_slot_and_every_capability(
        mut router in warmed_router(), request in request(), agents in fleet(),
    ) {
        let decision = router.route(&request, &agents);
        let any_eligible = agents.iter().any(|a| eligible(a, &request));
        prop_assert_eq!(decision.is_some(), any_eligible, "None iff there is no candidate");
        if let Some(decision) = decision {
            let chosen = agents.iter().find(|a| a.id == decision.agent).unwrap();
            prop_assert!(eligible(chosen, &request), "{chosen:?} for {request:?}");
            prop_assert_eq!(decision.instance, chosen.instance);
            prop_assert!(
                router.chain().contains(&decision.strategy)
                    || decision.strategy == Strategy::LeastLoaded,
                "decided by {} outside the chain {:?}", decision.strategy, router.chain()
            );
        }
    }

    #[test]
    fn order_ranks_exactly_the_candidates_and_starts_with_routes_pick(
        router in warmed_router(), request in request(), agents in fleet(),
    ) {
        let mut by_order = router.clone();
        let mut by_route = router;
        let order = by_order.order(&request, &agents);
        let mut ranked = order.clone();
        ranked.sort();
        let mut expected: Vec<_> =
            agents.iter().filter(|a| eligible(a, &request)).map(|a| a.id.clone()).collect();
        expected.sort();
        prop_assert_eq!(ranked, expected);
        let decision = by_route.route(&request, &agents);
        prop_assert_eq!(order.first(), decision.as_ref().map(|d| &d.agent));
        prop_assert_eq!(by_order, by_route, "both move the round-robin cursor alike");
    }

    #[test]
    fn least_loaded_picks_a_candidate_of_minimal_utilisation(
        request in request(), agents in fleet(),
    ) {
        let mut router = Router::new(vec![Strategy::LeastLoaded]);
        if let Some(decision) = router.route(&request, &agents) {
            let chosen = agents.iter().find(|a| a.id == decision.agent).unwrap();
            for other in agents.iter().filter(|a| eligible(a, &request)) {
                prop_assert!(
                    u64::from(chosen.load) * u64::from(other.capacity)
                        <= u64::from(other.load) * u64::from(chosen.capacity),
                    "{chosen:?} is busier than {other:?}"
                );
            }
        }
    }

    #[test]
    fn same_router_state_and_input_give_the_same_output_whatever_the_listing_order(
        router in warmed_router(), request in request(), agents in fleet(), seed in any::<u64>(),
    ) {
        let mut first = router.clone();
        let mut second = router.clone();
        prop_assert_eq!(first.route(&request, &agents), second.route(&request, &agents));
        prop_assert_eq!(first.order(&request, &agents), second.order(&request, &agents));
        prop_assert_eq!(&first, &second);

        // Agent ids are distinct, so every ranking is total and listing order cannot matter.
        let mut shuffled = agents.clone();
        if shuffled.len() > 1 {
            let turn = usize::try_from(seed % shuffled.len() as u64).unwrap();
            shuffled.rotate_left(turn);
            shuffled.reverse();
        }
        let mut listed = router.clone();
        let mut reordered = router;
        prop_assert_eq!(listed.route(&request, &agents), reordered.route(&request, &shuffled));
        prop_assert_eq!(listed.order(&request, &agents), reordered.order(&request, &shuffled));
    }

    #[test]
    fn round_robin_over_k_candidates_visits_each_once_per_k_calls(
        k in 1..8usize, loads in prop::collection::vec(0..3u32, 8), warm_up in 0..8usize,
    ) {
        let agents: Vec<_> = (0..k)
            .map(|i| AgentSnapshot {
                load: loads[i],
                ..AgentSnapshot::new(
                    AgentId::parse(&format!("agent-{i}")).unwrap(),
                    InstanceId::from_u128(i as u128),
                    4,
                )
            })
            .collect();
        let mut router = Router::new(vec![Strategy::RoundRobin]);
        let any = RouteRequest::default();
        for _ in 0..warm_up {
            router.route(&any, &agents);
        }
        for _round in 0..2 {
            let mut visits = BTreeMap::new();
            for _ in 0..k {
                let decision = router.route(&any, &agents).unwrap();
                prop_assert_eq!(decision.strategy, Strategy::RoundRobin);
                *visits.entry(decision.agent).or_insert(0) += 1;
            }
            prop_assert_eq!(visits.len(), k);
            prop_assert!(visits.values().all(|&n| n == 1), "{visits:?}");
        }
    }
}

/// Up to 8 demands `(tenant, weight, wanted)` with distinct tenants, weights 1 to 10.
fn demands() -> impl Gen<Value = Vec<(TenantId, u32, u32)>> {
    prop::collection::vec((1..=10u32, 0..60u32), 0..8).prop_map(|demands| {
        demands
            .into_iter()
            .enumerate()
            .map(|(i, (weight, wanted))| {
                (
                    TenantId::parse(&format!("tenant-{i}")).unwrap(),
                    weight,
                    wanted,
                )
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn fair_shares_never_exceed_capacity_or_demand_and_leave_nothing_idle(
        capacity in 0..200u32, demands in demands(),
    ) {
        let shares = fair_shares(capacity, &demands);
        prop_assert_eq!(shares.len(), demands.len());
        let mut total = 0u64;
        for ((tenant, _, wanted), (got_tenant, share)) in demands.iter().zip(&shares) {
            prop_assert_eq!(tenant, got_tenant);
            prop_assert!(share <= wanted, "{tenant} got {share} of {wanted} wanted");
            total += u64::from(*share);
        }
        let wanted: u64 = demands.iter().map(|(_, _, w)| u64::from(*w)).sum();
        prop_assert_eq!(total, wanted.min(u64::from(capacity)));
    }

    /// Max-min fairness, up to the one slot rounding may move: a tenant that did not get all it
    /// wanted could not be given a slot taken from any other tenant without that tenant ending
    /// further below the common level than it stands above. Per unit of weight, for unsatisfied
    /// `i` and any `j` holding a slot: `(share_j - 1) / w_j < (share_i + 1) / w_i`.
    #[test]
    fn fair_shares_are_weighted_max_min_fair(capacity in 0..200u32, demands in demands()) {
        let shares = fair_shares(capacity, &demands);
        for (i, (_, w_i, wanted_i)) in demands.iter().enumerate() {
            let a_i = u64::from(shares[i].1);
            if a_i >= u64::from(*wanted_i) {
                continue;
            }
            for (j, (_, w_j, _)) in demands.iter().enumerate() {
                let a_j = u64::from(shares[j].1);
                if a_j == 0 {
                    continue;
                }
                prop_assert!(
                    (a_j - 1) * u64::from(*w_i) < (a_i + 1) * u64::from(*w_j),
                    "tenant {i} (weight {w_i}) got {a_i}, tenant {j} (weight {w_j}) got {a_j}: {shares:?}"
                );
            }
        }
    }

    #[test]
    fn fair_shares_do_not_depend_on_the_order_of_demands(
        capacity in 0..200u32, demands in demands(),
    ) {
        let mut reversed = demands.clone();
        reversed.reverse();
        let mut forward = fair_shares(capacity, &demands);
        let mut backward = fair_shares(capacity, &reversed);
        forward.sort();
        backward.sort();
        prop_assert_eq!(forward, backward);
    }
}
