//! Claim order: strict priority, weighted-fair tenants, FIFO, eligibility, concurrency.

use std::collections::HashSet;
use std::sync::Arc;

use crate::config::TenantPolicy;
use crate::conformance::StoreFactory;
use crate::conformance::harness::{Harness, agent_id, caps, join_all, task, tenant};
use crate::lease::Eligibility;
use crate::priority::Priority;
use crate::store::QueueStore;

/// PRD FR-1: with 5 critical, 10 high and 20 medium waiting, 10 claims give the 5 critical
/// then 5 high, whatever the enqueue order.
pub async fn claims_follow_strict_priority<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    for _ in 0..20 {
        h.put_at("acme", Priority::Medium).await;
    }
    for _ in 0..10 {
        h.put_at("acme", Priority::High).await;
    }
    for _ in 0..5 {
        h.put_at("acme", Priority::Critical).await;
    }
    let leases = h.claim("a1", 10).await;
    let got: Vec<Priority> = leases.iter().map(|l| l.task.priority).collect();
    let mut want = vec![Priority::Critical; 5];
    want.extend([Priority::High; 5]);
    assert_eq!(got, want);
    let low = h.put_at("acme", Priority::Low).await;
    let rest = h.claim_ids("a1", 26).await;
    assert_eq!(
        rest.last(),
        Some(&low),
        "low is served only after every higher task"
    );
}

/// Within one tenant and priority, tasks come out in enqueue order.
pub async fn claims_are_fifo_within_tenant_and_priority<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(h.put_at("acme", Priority::High).await);
    }
    assert_eq!(h.claim_ids("a1", 8).await, ids);
}

/// Tenants of equal weight take turns within a priority, even when one enqueued first.
pub async fn equal_weight_tenants_alternate<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    for _ in 0..4 {
        h.put(task("acme")).await;
    }
    for _ in 0..4 {
        h.put(task("globex")).await;
    }
    let leases = h.claim("a1", 8).await;
    let tenants: Vec<String> = leases.iter().map(|l| l.task.tenant.to_string()).collect();
    for pair in tenants.chunks(2) {
        assert_ne!(pair[0], pair[1], "tenants must alternate: {tenants:?}");
    }
}

/// A tenant of weight 2 gets two claims for every one of a tenant of weight 1.
pub async fn tenants_share_claims_by_weight<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let heavy = TenantPolicy {
        weight: 2,
        ..TenantPolicy::default()
    };
    h.store
        .set_tenant_policy(&tenant("heavy"), heavy)
        .await
        .unwrap();
    for _ in 0..40 {
        h.put(task("heavy")).await;
        h.put(task("light")).await;
    }
    let leases = h.claim("a1", 30).await;
    let heavy_count = leases
        .iter()
        .filter(|l| l.task.tenant == tenant("heavy"))
        .count();
    assert!(
        (19..=21).contains(&heavy_count),
        "weight 2:1 over 30 claims gave {heavy_count} to heavy"
    );
}

/// A tenant that starts enqueueing late joins the rotation at the current turn; it does not
/// get a burst to "catch up" on the claims it never asked for.
pub async fn newly_active_tenant_does_not_get_a_burst<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    for _ in 0..20 {
        h.put(task("acme")).await;
    }
    assert_eq!(h.claim("a1", 10).await.len(), 10);
    for _ in 0..6 {
        h.put(task("globex")).await;
    }
    let next: Vec<String> = h
        .claim("a1", 6)
        .await
        .iter()
        .map(|l| l.task.tenant.to_string())
        .collect();
    let globex = next.iter().filter(|t| *t == "globex").count();
    assert_eq!(globex, 3, "after joining, globex shares equally: {next:?}");
}

/// A claim returns at most `max` tasks, and fewer when fewer are due.
pub async fn claim_returns_at_most_max_and_fewer_when_dry<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    for _ in 0..5 {
        h.put(task("acme")).await;
    }
    assert_eq!(h.claim("a1", 3).await.len(), 3);
    assert_eq!(h.claim("a1", 3).await.len(), 2);
    assert!(h.claim("a1", 3).await.is_empty());
    assert!(h.claim("a1", 0).await.is_empty());
}

/// Claiming from an empty store returns no lease and changes nothing.
pub async fn claim_on_empty_queue_returns_nothing<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    assert!(h.claim("a1", 10).await.is_empty());
    assert_eq!(h.load("a1").await, 0);
    assert_eq!(h.store.stats().await.unwrap().claimed, 0);
}

/// An agent gets a task only if it has every capability the task requires.
pub async fn required_capabilities_must_be_a_subset<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let id = h
        .put(task("acme").with_capabilities(caps(&["gpu", "rust"])))
        .await;
    assert!(
        h.claim_with("a1", &Eligibility::with_capabilities(caps(&["rust"])), 1)
            .await
            .is_empty()
    );
    let both = Eligibility::with_capabilities(caps(&["gpu", "python", "rust"]));
    assert_eq!(h.claim_with("a2", &both, 1).await[0].task.id, id);
}

/// A critical task this agent cannot run does not hold back a high one it can.
pub async fn incapable_head_does_not_block_other_work<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let gpu_task = h
        .put(
            task("acme")
                .with_priority(Priority::Critical)
                .with_capabilities(caps(&["gpu"])),
        )
        .await;
    let plain_same_tenant = h.put_at("acme", Priority::Critical).await;
    let high = h.put_at("acme", Priority::High).await;
    assert_eq!(h.claim_ids("cpu", 2).await, vec![plain_same_tenant, high]);
    let gpu = Eligibility::with_capabilities(caps(&["gpu"]));
    assert_eq!(h.claim_with("gpu", &gpu, 1).await[0].task.id, gpu_task);
}

/// A claim restricted to some tenants takes only their tasks.
pub async fn tenant_filter_restricts_claims<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put_at("acme", Priority::Critical).await;
    let globex = h.put_at("globex", Priority::Low).await;
    let only = Eligibility::any().only_tenants(vec![tenant("globex")]);
    let leases = h.claim_with("a1", &only, 5).await;
    assert_eq!(
        leases.iter().map(|l| l.task.id).collect::<Vec<_>>(),
        vec![globex]
    );
    let none = Eligibility::any().only_tenants(vec![tenant("nobody")]);
    assert!(h.claim_with("a1", &none, 5).await.is_empty());
}

/// Many claimers at once: every task is handed out exactly once.
pub async fn concurrent_claimers_never_share_a_task<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let store = Arc::new(h.store);
    let tasks: Vec<_> = (0..200)
        .map(|i| task(["acme", "globex", "initech"][i % 3]))
        .collect();
    store.enqueue_batch(tasks).await.unwrap();
    let claimers: Vec<_> = (0..8)
        .map(|n| {
            let store = Arc::clone(&store);
            async move {
                let agent = agent_id(&format!("agent-{n}"));
                let mut ids = Vec::new();
                loop {
                    let leases = store.claim(&agent, &Eligibility::any(), 3).await.unwrap();
                    if leases.is_empty() {
                        return ids;
                    }
                    for lease in leases {
                        ids.push(lease.task.id);
                        store.ack(&lease.token, None).await.unwrap();
                    }
                }
            }
        })
        .collect();
    let all: Vec<_> = join_all(claimers).await.into_iter().flatten().collect();
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 200, "every task claimed");
    assert_eq!(unique.len(), 200, "no task claimed twice");
}
