//! Many claimers on one `PgQueueStore` at once, on real threads: no task is ever leased to two
//! of them, every task is acked exactly once, the counters end consistent, and claims over
//! limited keys never deadlock or exceed a limit.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use godel_postgres::queue::PgQueueStore;
use godel_postgres::testing::TestDatabase;
use godel_queue::{
    AgentId, Eligibility, Limit, LimitKey, ManualClock, NewTask, Priority, QueueConfig, QueueStore,
    TaskId, TaskQuery, TaskStatus, TenantId,
};

const CLAIMERS: usize = 50;
const TASKS: usize = 600;
const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_claimers_never_share_a_task_and_ack_each_once() {
    let Some(db) = TestDatabase::create().await else {
        return; // no server, and live tests may skip
    };
    let clock = ManualClock::default();
    let store = Arc::new(
        PgQueueStore::new(db.pool(30).await, QueueConfig::default(), Arc::new(clock)).unwrap(),
    );
    let tasks: Vec<NewTask> = (0..TASKS)
        .map(|i| {
            let tenant = TenantId::parse(TENANTS[i % TENANTS.len()]).unwrap();
            NewTask::new(tenant, serde_json::json!({ "i": i }))
                .with_priority(Priority::ALL[i % Priority::ALL.len()])
        })
        .collect();
    let enqueued: HashSet<TaskId> = store
        .enqueue_batch(tasks)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(enqueued.len(), TASKS);

    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let agent = AgentId::parse(&format!("agent-{n}")).unwrap();
                let mut leases = Vec::new();
                loop {
                    let batch = store
                        .claim(&agent, &Eligibility::any(), 1 + n % 3)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        // Empty means every due task is taken or being taken by a claimer that
                        // holds it; stop once none is left due at all.
                        if store.depth().await.unwrap().total() == 0 {
                            return leases;
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                    for lease in batch {
                        store.ack(&lease.token, None).await.unwrap();
                        leases.push(lease.token);
                    }
                }
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for claimer in claimers {
        tokens.extend(claimer.await.unwrap());
    }

    let tasks: HashSet<TaskId> = tokens.iter().map(|t| t.task).collect();
    let fences: HashSet<u64> = tokens.iter().map(|t| t.fence).collect();
    assert_eq!(tokens.len(), TASKS, "one lease per task");
    assert_eq!(tasks, enqueued, "every task leased, none twice");
    assert_eq!(fences.len(), TASKS, "every lease has a fence of its own");

    let counts = store.count(&TaskQuery::default()).await.unwrap();
    assert_eq!(counts.get(TaskStatus::Completed), TASKS as u64);
    assert_eq!(counts.total(), TASKS as u64);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.claimed, TASKS as u64, "no lease handed out twice");
    assert_eq!(
        stats.completed, TASKS as u64,
        "every task acked exactly once"
    );
    for n in 0..CLAIMERS {
        let agent = AgentId::parse(&format!("agent-{n}")).unwrap();
        assert_eq!(store.load(&agent).await.unwrap(), 0);
    }
}

/// Claimers whose tasks count under different limited keys: each claim locks the limit rows
/// it needs in one global order, so no two claims wait for each other, every claim answers
/// without error, and no key ever runs more than its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_over_tasks_with_different_limited_keys_never_fail_or_exceed_a_limit() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = Arc::new(
        PgQueueStore::new(
            db.pool(20).await,
            QueueConfig::default(),
            Arc::new(ManualClock::default()),
        )
        .unwrap(),
    );
    let keys: Vec<LimitKey> = ["provider:a", "provider:b", "provider:c", "provider:d"]
        .iter()
        .map(|k| LimitKey::parse(k).unwrap())
        .collect();
    for key in &keys {
        let limit = Limit {
            max_running: Some(3),
            rate: None,
        };
        store.set_limit(key, Some(limit)).await.unwrap();
    }
    let tenant = TenantId::parse("acme").unwrap();
    // Each task counts under two keys, in every combination and order.
    let tasks: Vec<NewTask> = (0..240)
        .map(|i| {
            NewTask::new(tenant.clone(), serde_json::json!({ "i": i }))
                .with_limit_key(keys[i % 4].clone())
                .with_limit_key(keys[(i / 4 + 1 + i % 4) % 4].clone())
        })
        .collect();
    store.enqueue_batch(tasks).await.unwrap();

    // Leases held per key as the claimers see them (never more than the store granted).
    let held: Arc<Vec<AtomicUsize>> = Arc::new((0..4).map(|_| AtomicUsize::new(0)).collect());
    let most = Arc::new(AtomicUsize::new(0));
    let claimers: Vec<_> = (0..16)
        .map(|n| {
            let (store, keys) = (Arc::clone(&store), keys.clone());
            let (held, most) = (Arc::clone(&held), Arc::clone(&most));
            tokio::spawn(async move {
                let agent = AgentId::parse(&format!("agent-{n}")).unwrap();
                let mut acked = 0;
                while store.depth().await.unwrap().total() > 0 {
                    let leases = store.claim(&agent, &Eligibility::any(), 4).await.unwrap();
                    let slots = |lease: &godel_queue::Lease| -> Vec<usize> {
                        let of = &lease.task.limit_keys;
                        (0..4).filter(|&k| of.contains(&keys[k])).collect()
                    };
                    for lease in &leases {
                        for k in slots(lease) {
                            let now = held[k].fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                        }
                    }
                    for lease in leases {
                        for k in slots(&lease) {
                            held[k].fetch_sub(1, Ordering::SeqCst);
                        }
                        store.ack(&lease.token, None).await.unwrap();
                        acked += 1;
                    }
                    tokio::task::yield_now().await;
                }
                acked
            })
        })
        .collect();
    let mut acked = 0;
    for claimer in claimers {
        acked += claimer.await.unwrap();
    }

    assert_eq!(acked, 240, "every task was claimed and acked once");
    assert!(
        most.load(Ordering::SeqCst) <= 3,
        "no key ran more than its limit of 3"
    );
}
