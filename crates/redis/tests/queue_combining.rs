//! Combined claims and acks on Redis: concurrent callers share script calls, yet the leases,
//! read in fence order, are exactly those the reference store hands out to the same claims
//! made one after another (priority, weighted tenant rotation, lanes, limits), each caller
//! gets only its own leases, and each ack gets its own answer.

use std::collections::HashSet;
use std::sync::Arc;

use godel_queue::{
    AgentId, Capabilities, Eligibility, ErrorKind, Lease, Limit, LimitKey, ManualClock,
    MemoryQueueStore, NewTask, Priority, QueueConfig, QueueStore, TenantId, TenantPolicy,
};
use godel_redis::testing::TestRedis;
use serde_json::json;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn agent(n: usize) -> AgentId {
    AgentId::parse(&format!("agent-{n}")).unwrap()
}

/// 400 tasks over three tenants of weights 1, 2 and 3, four priorities, a GPU lane and a
/// provider key that admits 25 running tasks; the `n` in each payload names the task.
fn workload() -> Vec<NewTask> {
    let tenants = [tenant("acme"), tenant("bolt"), tenant("core")];
    let gpu = Capabilities::parse(["gpu"]).unwrap();
    let provider = LimitKey::parse("provider:openai").unwrap();
    (0..400)
        .map(|n| {
            let mut task = NewTask::new(tenants[(n * 7) % 3].clone(), json!({ "n": n }))
                .with_priority(Priority::ALL[(n * 5) % 4]);
            if n % 9 == 0 {
                task = task.with_capabilities(gpu.clone());
            }
            if n % 4 == 1 {
                task = task.with_limit_key(provider.clone());
            }
            task
        })
        .collect()
}

/// Applies the workload's policies and limits, then enqueues it in chunks.
async fn prepare(store: &dyn QueueStore) {
    for (name, weight) in [("acme", 1), ("bolt", 2), ("core", 3)] {
        let policy = TenantPolicy {
            weight,
            ..TenantPolicy::default()
        };
        store
            .set_tenant_policy(&tenant(name), policy)
            .await
            .unwrap();
    }
    let provider = LimitKey::parse("provider:openai").unwrap();
    let limit = Limit {
        max_running: Some(25),
        rate: None,
    };
    store.set_limit(&provider, Some(limit)).await.unwrap();
    for chunk in workload().chunks(100) {
        store.enqueue_batch(chunk.to_vec()).await.unwrap();
    }
}

fn n_of(lease: &Lease) -> u64 {
    lease.task.payload["n"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_lease_what_the_same_claims_one_after_another_would() {
    let Some(redis) = TestRedis::create().await else {
        return; // no server, and live tests may skip
    };
    let clock = ManualClock::default();
    let store = Arc::new(redis.queue_store(QueueConfig::default(), Arc::new(clock.clone())));
    let reference = MemoryQueueStore::try_new(QueueConfig::default(), Arc::new(clock)).unwrap();
    prepare(&*store).await;
    prepare(&reference).await;
    let eligibility = Eligibility {
        capabilities: Capabilities::parse(["gpu"]).unwrap(),
        ..Eligibility::default()
    };

    // 90 claimers at once, asking for 1 to 3 tasks each: 180 tasks wanted of 400.
    let claims: Vec<_> = (0..90)
        .map(|n| {
            let (store, eligibility) = (Arc::clone(&store), eligibility.clone());
            tokio::spawn(async move { (n, store.claim(&agent(n), &eligibility, 1 + n % 3).await) })
        })
        .collect();
    let mut leases = Vec::new();
    for claim in claims {
        let (n, claimed) = claim.await.unwrap();
        let claimed = claimed.unwrap();
        for pair in claimed.windows(2) {
            assert!(
                pair[0].token.fence < pair[1].token.fence,
                "fences rise in claim order"
            );
        }
        for lease in &claimed {
            assert_eq!(
                lease.task.assignee.as_ref(),
                Some(&agent(n)),
                "leased to its claimer"
            );
        }
        leases.extend(claimed);
    }
    leases.sort_by_key(|l| l.token.fence);
    let got: Vec<u64> = leases.iter().map(n_of).collect();
    let unique: HashSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "a task was leased twice");

    // The reference makes as many single claims, one after another.
    let mut expected = Vec::new();
    for _ in 0..got.len() {
        let one = reference.claim(&agent(0), &eligibility, 1).await.unwrap();
        expected.extend(one.iter().map(n_of));
    }
    assert_eq!(
        got, expected,
        "fence order is the order of sequential claims"
    );
    assert_eq!(got.len(), 180, "every claimer got all it asked");
    let provider = got.iter().filter(|n| *n % 4 == 1).count();
    assert_eq!(
        provider, 25,
        "the provider key admitted 25 running tasks, no more"
    );

    let stats = store.claim_group_stats();
    assert_eq!(stats.submissions, 90);
    assert_eq!(store.stats().await.unwrap().claimed, got.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn combined_acks_complete_live_leases_and_refuse_each_stale_one_alone() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let store =
        Arc::new(redis.queue_store(QueueConfig::default(), Arc::new(ManualClock::default())));
    let tasks: Vec<NewTask> = (0..120)
        .map(|n| NewTask::new(tenant(["acme", "bolt"][n % 2]), json!({ "n": n })))
        .collect();
    store.enqueue_batch(tasks).await.unwrap();
    let leases = store
        .claim(&agent(0), &Eligibility::any(), 120)
        .await
        .unwrap();
    assert_eq!(leases.len(), 120);

    // Every lease acked twice at once: exactly one ack of each wins, the other is stale.
    let acks: Vec<_> = leases
        .iter()
        .flat_map(|lease| [lease.token, lease.token])
        .map(|token| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { (token, store.ack(&token, None).await) })
        })
        .collect();
    let mut won = HashSet::new();
    for ack in acks {
        let (token, answer) = ack.await.unwrap();
        match answer {
            Ok(()) => assert!(won.insert(token.task), "two acks of one lease both won"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::StaleLease, "{e}"),
        }
    }
    assert_eq!(won.len(), 120);
    assert_eq!(store.stats().await.unwrap().completed, 120);
    assert_eq!(
        store.load(&agent(0)).await.unwrap(),
        0,
        "every lease gave its load back"
    );
    assert!(
        store.ack_group_stats().groups < 240,
        "acks shared script calls"
    );
}
