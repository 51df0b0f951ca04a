//! Concurrency and rate limits by key, depth, and optional aging.

use std::time::Duration;

use crate::config::{Limit, QueueConfig, Rate};
use crate::conformance::StoreFactory;
use crate::conformance::harness::{Harness, task, tenant};
use crate::ids::LimitKey;
use crate::lease::Eligibility;
use crate::priority::Priority;
use crate::store::QueueStore;

fn key(name: &str) -> LimitKey {
    LimitKey::parse(name).expect("valid key")
}

fn max_running(n: u32) -> Option<Limit> {
    Some(Limit {
        max_running: Some(n),
        rate: None,
    })
}

/// Tasks under a key at its concurrency limit are skipped (and counted as throttled) while
/// other tasks, even older or more urgent ones elsewhere, keep flowing; finishing one frees a slot.
pub async fn concurrency_limit_skips_without_blocking_others<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.store
        .set_limit(&key("provider:openai"), max_running(1))
        .await
        .unwrap();
    let first = h
        .put(
            task("acme")
                .with_priority(Priority::High)
                .with_limit_key(key("provider:openai")),
        )
        .await;
    let second = h
        .put(
            task("acme")
                .with_priority(Priority::High)
                .with_limit_key(key("provider:openai")),
        )
        .await;
    let other = h.put(task("acme").with_priority(Priority::Low)).await;
    let leases = h.claim("a1", 3).await;
    assert_eq!(
        leases.iter().map(|l| l.token.task).collect::<Vec<_>>(),
        vec![first, other]
    );
    assert!(h.store.stats().await.unwrap().throttled >= 1);
    h.store.ack(&leases[0].token, None).await.unwrap();
    assert_eq!(h.claim_one("a2").await.token.task, second);
}

/// A tenant's concurrency limit (key `tenant:<id>`) holds across all agents.
pub async fn tenant_concurrency_limit_applies_across_agents<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.store
        .set_limit(&LimitKey::tenant(&tenant("acme")), max_running(2))
        .await
        .unwrap();
    for _ in 0..5 {
        h.put(task("acme")).await;
    }
    assert_eq!(h.claim("a1", 1).await.len(), 1);
    assert_eq!(h.claim("a2", 1).await.len(), 1);
    let globex = h.put(task("globex")).await;
    let third = h.claim("a3", 5).await;
    assert_eq!(
        third.iter().map(|l| l.token.task).collect::<Vec<_>>(),
        vec![globex]
    );
    h.store
        .set_limit(&LimitKey::tenant(&tenant("acme")), None)
        .await
        .unwrap();
    assert_eq!(
        h.claim("a3", 5).await.len(),
        3,
        "removing the limit frees the rest"
    );
}

/// A claimant's own key (say `agent:a1` with its capacity) caps how many tasks it holds.
pub async fn claimant_key_limit_caps_an_agent<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.store
        .set_limit(&key("agent:a1"), max_running(2))
        .await
        .unwrap();
    for _ in 0..5 {
        h.put(task("acme")).await;
    }
    let me = Eligibility::any().with_key(key("agent:a1"));
    let leases = h.claim_with("a1", &me, 5).await;
    assert_eq!(leases.len(), 2);
    assert!(h.claim_with("a1", &me, 5).await.is_empty());
    h.store.ack(&leases[0].token, None).await.unwrap();
    assert_eq!(h.claim_with("a1", &me, 5).await.len(), 1);
    assert_eq!(
        h.claim("other", 5).await.len(),
        2,
        "other claimants are not capped"
    );
}

/// A token bucket lets `burst` claims through, then one per `1 / per_second`.
pub async fn rate_limit_refills_with_time<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    let rate = Rate {
        per_second: 2.0,
        burst: 3,
    };
    h.store
        .set_limit(
            &key("provider:slow"),
            Some(Limit {
                max_running: None,
                rate: Some(rate),
            }),
        )
        .await
        .unwrap();
    for _ in 0..10 {
        h.put(task("acme").with_limit_key(key("provider:slow")))
            .await;
    }
    assert_eq!(h.claim("a1", 10).await.len(), 3);
    assert!(h.claim("a1", 10).await.is_empty());
    h.advance(Duration::from_millis(500));
    assert_eq!(h.claim("a1", 10).await.len(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.claim("a1", 10).await.len(), 2);
    h.advance(Duration::from_secs(60));
    assert_eq!(
        h.claim("a1", 10).await.len(),
        3,
        "the bucket holds at most burst tokens"
    );
}

/// Depth counts exactly the due tasks waiting, by priority and tenant; leased, blocked and
/// not-yet-due tasks are not in it.
pub async fn depth_counts_due_waiting_tasks_by_priority_and_tenant<F: StoreFactory>(f: &F) {
    let h = Harness::new(f).await;
    h.put_at("acme", Priority::Critical).await;
    h.put_at("acme", Priority::Low).await;
    let g = h.put_at("globex", Priority::Low).await;
    h.put(task("globex").depends_on(g)).await;
    h.put(task("globex").scheduled_at(h.now() + Duration::from_secs(9)))
        .await;
    let depth = h.store.depth().await.unwrap();
    assert_eq!(depth.by_priority, [1, 0, 0, 2]);
    assert_eq!(depth.total(), 3);
    assert_eq!(depth.by_tenant.get(&tenant("acme")), Some(&[1, 0, 0, 1]));
    assert_eq!(depth.of_tenant(&tenant("globex")), 1);
    h.claim_one("a1").await;
    assert_eq!(h.store.depth().await.unwrap().by_priority, [0, 0, 0, 2]);
    h.advance(Duration::from_secs(9));
    assert_eq!(h.store.depth().await.unwrap().at(Priority::Medium), 1);
}

/// With aging on, a task waiting one interval is served as one level higher, two intervals
/// two levels higher; with it off (the default) low work waits behind all higher work.
pub async fn aging_raises_waiting_tasks_when_enabled<F: StoreFactory>(f: &F) {
    let config = QueueConfig {
        aging_after: Some(Duration::from_secs(60)),
        ..QueueConfig::default()
    };
    let h = Harness::with_config(f, config).await;
    let old_low = h.put_at("acme", Priority::Low).await;
    h.advance(Duration::from_secs(120));
    let fresh_medium = h.put_at("acme", Priority::Medium).await;
    // old_low has aged two levels (low -> medium -> high) and now outranks fresh medium work.
    assert_eq!(h.claim_ids("a1", 2).await, vec![old_low, fresh_medium]);
    assert_eq!(
        h.store.get(old_low).await.unwrap().priority,
        Priority::Low,
        "the record keeps its priority"
    );

    let strict = Harness::new(f).await;
    let low = strict.put_at("acme", Priority::Low).await;
    strict.advance(Duration::from_secs(3600));
    let medium = strict.put_at("acme", Priority::Medium).await;
    assert_eq!(strict.claim_ids("a1", 2).await, vec![medium, low]);
}
