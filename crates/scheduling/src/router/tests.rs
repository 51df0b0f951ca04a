//! The router's rules, one strategy at a time, then chains and the dispatcher order.

use super::*;

fn id(name: &str) -> AgentId {
    AgentId::parse(name).unwrap()
}

fn caps(names: &[&str]) -> Capabilities {
    Capabilities::parse(names.iter().copied()).unwrap()
}

/// An available agent `name` with `load` of `capacity` slots in use, on an instance of its own.
fn agent(name: &str, load: u32, capacity: u32) -> AgentSnapshot {
    let instance = InstanceId::from_u128(name.bytes().map(u128::from).sum());
    AgentSnapshot {
        load,
        ..AgentSnapshot::new(id(name), instance, capacity)
    }
}

fn with_caps(agent: AgentSnapshot, names: &[&str]) -> AgentSnapshot {
    AgentSnapshot {
        capabilities: caps(names),
        ..agent
    }
}

fn located(agent: AgentSnapshot, region: &str, zone: &str) -> AgentSnapshot {
    AgentSnapshot {
        region: Some(region.to_owned()),
        zone: Some(zone.to_owned()),
        ..agent
    }
}

fn picked(router: &mut Router, request: &RouteRequest, agents: &[AgentSnapshot]) -> String {
    router.route(request, agents).unwrap().agent.to_string()
}

fn names(ids: &[AgentId]) -> Vec<&str> {
    ids.iter().map(AgentId::as_str).collect()
}

fn near(region: &str, zone: Option<&str>) -> RouteRequest {
    RouteRequest {
        region: Some(region.to_owned()),
        zone: zone.map(str::to_owned),
        ..RouteRequest::default()
    }
}

#[test]
fn no_candidate_means_no_decision_and_an_empty_order() {
    let offline = AgentSnapshot {
        available: false,
        ..agent("offline", 0, 4)
    };
    let agents = [
        offline,
        agent("full", 2, 2),
        with_caps(agent("python", 0, 4), &["python"]),
    ];
    let request = RouteRequest {
        capabilities: caps(&["rust"]),
        ..RouteRequest::default()
    };
    for &strategy in Strategy::ALL {
        let mut router = Router::new(vec![strategy]);
        assert_eq!(router.route(&request, &agents), None, "{strategy}");
        assert!(router.order(&request, &agents).is_empty(), "{strategy}");
    }
    assert_eq!(Router::default().route(&RouteRequest::default(), &[]), None);
}

#[test]
fn an_empty_chain_means_least_loaded() {
    assert_eq!(Router::new(vec![]).chain(), [Strategy::LeastLoaded]);
    assert_eq!(Router::default().chain(), [Strategy::LeastLoaded]);
}

#[test]
fn least_loaded_picks_the_lowest_utilisation_then_the_most_free_slots_then_the_smallest_id() {
    let mut router = Router::new(vec![Strategy::LeastLoaded]);
    let any = RouteRequest::default();
    // 1/4 beats 1/2 although both run one task.
    assert_eq!(
        picked(&mut router, &any, &[agent("a", 1, 2), agent("b", 1, 4)]),
        "b"
    );
    // Equal utilisation (1/2 = 2/4): the one with more free slots.
    assert_eq!(
        picked(&mut router, &any, &[agent("a", 1, 2), agent("b", 2, 4)]),
        "b"
    );
    // A full tie: the smallest id, whatever the input order.
    assert_eq!(
        picked(&mut router, &any, &[agent("b", 1, 2), agent("a", 1, 2)]),
        "a"
    );
    let decision = router.route(&any, &[agent("a", 0, 1)]).unwrap();
    assert_eq!(decision.strategy, Strategy::LeastLoaded);
    assert_eq!(decision.instance, agent("a", 0, 1).instance);
}

#[test]
fn capability_match_keeps_specialists_free() {
    let mut router = Router::new(vec![Strategy::CapabilityMatch]);
    let agents = [
        with_caps(agent("gpu-box", 0, 8), &["gpu", "python", "rust"]),
        with_caps(agent("rust-only", 3, 4), &["rust"]),
    ];
    let rust = RouteRequest {
        capabilities: caps(&["rust"]),
        ..RouteRequest::default()
    };
    // The specialist is idle and the generalist busy, yet the generalist gets plain rust work.
    assert_eq!(picked(&mut router, &rust, &agents), "rust-only");
    let gpu = RouteRequest {
        capabilities: caps(&["gpu"]),
        ..RouteRequest::default()
    };
    assert_eq!(picked(&mut router, &gpu, &agents), "gpu-box");
}

#[test]
fn capability_match_breaks_ties_by_least_loaded() {
    let mut router = Router::new(vec![Strategy::CapabilityMatch]);
    let agents = [
        with_caps(agent("a", 3, 4), &["go", "rust"]),
        with_caps(agent("b", 1, 4), &["python", "rust"]),
    ];
    let rust = RouteRequest {
        capabilities: caps(&["rust"]),
        ..RouteRequest::default()
    };
    let decision = router.route(&rust, &agents).unwrap();
    assert_eq!(decision.agent.as_str(), "b");
    assert_eq!(decision.strategy, Strategy::CapabilityMatch);
}

#[test]
fn session_affinity_sticks_to_the_affinity_agent_while_it_can_take_work() {
    let mut router = Router::new(vec![Strategy::SessionAffinity, Strategy::LeastLoaded]);
    let sticky = RouteRequest {
        affinity: Some(id("busy")),
        ..RouteRequest::default()
    };
    let agents = [agent("busy", 3, 4), agent("idle", 0, 4)];
    let decision = router.route(&sticky, &agents).unwrap();
    assert_eq!(decision.agent.as_str(), "busy");
    assert_eq!(decision.strategy, Strategy::SessionAffinity);
}

#[test]
fn session_affinity_falls_through_when_the_agent_cannot_take_the_request() {
    let mut router = Router::new(vec![Strategy::SessionAffinity, Strategy::LeastLoaded]);
    let sticky = RouteRequest {
        affinity: Some(id("busy")),
        ..RouteRequest::default()
    };
    // Full.
    let decision = router
        .route(&sticky, &[agent("busy", 4, 4), agent("idle", 0, 4)])
        .unwrap();
    assert_eq!(
        (decision.agent.as_str(), decision.strategy),
        ("idle", Strategy::LeastLoaded)
    );
    // Gone from the snapshot.
    assert_eq!(picked(&mut router, &sticky, &[agent("idle", 0, 4)]), "idle");
    // No affinity asked for.
    let any = RouteRequest::default();
    assert_eq!(
        picked(
            &mut router,
            &any,
            &[agent("busy", 3, 4), agent("idle", 0, 4)]
        ),
        "idle"
    );
}

#[test]
fn geo_aware_prefers_the_zone_then_the_region_then_falls_through() {
    let mut router = Router::new(vec![Strategy::GeoAware, Strategy::LeastLoaded]);
    let agents = [
        located(agent("eu-a", 3, 4), "eu", "eu-1a"),
        located(agent("eu-b", 1, 4), "eu", "eu-1b"),
        located(agent("us-a", 0, 4), "us", "us-1a"),
    ];
    assert_eq!(
        picked(&mut router, &near("eu", Some("eu-1a")), &agents),
        "eu-a"
    );
    // No candidate in the zone: the region, least loaded within it.
    assert_eq!(
        picked(&mut router, &near("eu", Some("eu-1c")), &agents),
        "eu-b"
    );
    // Nothing in the region: falls through to every candidate.
    let decision = router.route(&near("ap", None), &agents).unwrap();
    assert_eq!(
        (decision.agent.as_str(), decision.strategy),
        ("us-a", Strategy::LeastLoaded)
    );
}

#[test]
fn a_zone_match_must_also_be_in_the_preferred_region() {
    let mut router = Router::new(vec![Strategy::GeoAware, Strategy::LeastLoaded]);
    let agents = [
        located(agent("odd", 0, 4), "us", "z1"),
        located(agent("eu", 2, 4), "eu", "z2"),
    ];
    assert_eq!(picked(&mut router, &near("eu", Some("z1")), &agents), "eu");
    let zone_only = RouteRequest {
        zone: Some("z1".to_owned()),
        ..RouteRequest::default()
    };
    assert_eq!(picked(&mut router, &zone_only, &agents), "odd");
}

#[test]
fn geo_aware_filters_and_the_next_strategy_picks_among_the_narrowed_set() {
    let mut router = Router::new(vec![Strategy::GeoAware, Strategy::RoundRobin]);
    let agents = [
        located(agent("eu-1", 0, 4), "eu", "eu-1a"),
        located(agent("eu-2", 0, 4), "eu", "eu-1a"),
        located(agent("us-1", 0, 4), "us", "us-1a"),
    ];
    let request = near("eu", Some("eu-1a"));
    let picks: Vec<_> = (0..4)
        .map(|_| picked(&mut router, &request, &agents))
        .collect();
    assert_eq!(picks, ["eu-1", "eu-2", "eu-1", "eu-2"]);
    assert_eq!(
        router.route(&request, &agents).unwrap().strategy,
        Strategy::RoundRobin
    );
}

#[test]
fn geo_aware_alone_narrows_and_the_last_resort_picks() {
    let mut router = Router::new(vec![Strategy::GeoAware]);
    let agents = [
        located(agent("eu", 3, 4), "eu", "eu-1a"),
        located(agent("us", 0, 4), "us", "us-1a"),
    ];
    let decision = router.route(&near("eu", None), &agents).unwrap();
    assert_eq!(
        (decision.agent.as_str(), decision.strategy),
        ("eu", Strategy::LeastLoaded)
    );
}

#[test]
fn round_robin_rotates_in_id_order_and_follows_changes_in_the_set() {
    let mut router = Router::new(vec![Strategy::RoundRobin]);
    let any = RouteRequest::default();
    let abc = [agent("c", 0, 4), agent("a", 3, 4), agent("b", 0, 4)];
    let picks: Vec<_> = (0..4).map(|_| picked(&mut router, &any, &abc)).collect();
    assert_eq!(picks, ["a", "b", "c", "a"]);
    // `b` is full now: the rotation skips it and goes on after the last pick.
    let b_full = [agent("a", 0, 4), agent("b", 4, 4), agent("c", 0, 4)];
    assert_eq!(picked(&mut router, &any, &b_full), "c");
    // A newcomer takes its place in id order.
    let with_bb = [agent("a", 0, 4), agent("bb", 0, 4), agent("c", 0, 4)];
    assert_eq!(picked(&mut router, &any, &with_bb), "a");
    assert_eq!(picked(&mut router, &any, &with_bb), "bb");
}

#[test]
fn a_chain_that_falls_through_ends_with_least_loaded() {
    let mut router = Router::new(vec![Strategy::SessionAffinity, Strategy::GeoAware]);
    let decision = router
        .route(
            &RouteRequest::default(),
            &[agent("a", 2, 4), agent("b", 1, 4)],
        )
        .unwrap();
    assert_eq!(
        (decision.agent.as_str(), decision.strategy),
        ("b", Strategy::LeastLoaded)
    );
}

#[test]
fn pickers_end_the_chain() {
    let mut router = Router::new(vec![Strategy::LeastLoaded, Strategy::SessionAffinity]);
    let sticky = RouteRequest {
        affinity: Some(id("busy")),
        ..RouteRequest::default()
    };
    assert_eq!(
        picked(
            &mut router,
            &sticky,
            &[agent("busy", 3, 4), agent("idle", 0, 4)]
        ),
        "idle"
    );
}

#[test]
fn order_puts_affinity_first_then_geo_tiers_each_ranked_by_the_rest_of_the_chain() {
    let mut router = Router::new(vec![
        Strategy::SessionAffinity,
        Strategy::GeoAware,
        Strategy::LeastLoaded,
    ]);
    let agents = [
        located(agent("zone-busy", 3, 4), "eu", "eu-1a"),
        located(agent("zone-idle", 0, 4), "eu", "eu-1a"),
        located(agent("region", 0, 4), "eu", "eu-1b"),
        located(agent("far", 0, 4), "us", "us-1a"),
        located(agent("sticky", 2, 4), "us", "us-1a"),
        located(agent("full", 4, 4), "eu", "eu-1a"),
    ];
    let request = RouteRequest {
        affinity: Some(id("sticky")),
        ..near("eu", Some("eu-1a"))
    };
    let order = router.order(&request, &agents);
    assert_eq!(
        names(&order),
        ["sticky", "zone-idle", "zone-busy", "region", "far"]
    );
    assert_eq!(order[0], router.route(&request, &agents).unwrap().agent);
}

#[test]
fn order_moves_the_round_robin_cursor_as_route_does() {
    let any = RouteRequest::default();
    let agents = [agent("a", 0, 4), agent("b", 0, 4), agent("c", 0, 4)];
    let mut by_order = Router::new(vec![Strategy::RoundRobin]);
    let mut by_route = by_order.clone();
    assert_eq!(names(&by_order.order(&any, &agents)), ["a", "b", "c"]);
    assert_eq!(names(&by_order.order(&any, &agents)), ["b", "c", "a"]);
    by_route.route(&any, &agents);
    by_route.route(&any, &agents);
    assert_eq!(by_order, by_route);

    // When affinity decides the head, neither moves the cursor.
    let sticky = RouteRequest {
        affinity: Some(id("a")),
        ..RouteRequest::default()
    };
    let mut sticky_router = Router::new(vec![Strategy::SessionAffinity, Strategy::RoundRobin]);
    let before = sticky_router.clone();
    assert_eq!(
        names(&sticky_router.order(&sticky, &agents)),
        ["a", "b", "c"]
    );
    sticky_router.route(&sticky, &agents);
    assert_eq!(sticky_router, before);
}
