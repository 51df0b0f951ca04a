//! Fifty claimers on one `PgQueueStore` at once, on real threads: no task is ever leased to two
//! of them, every task is acked exactly once, and the counters end consistent.

use std::collections::HashSet;
use std::sync::Arc;

use godel_postgres::queue::PgQueueStore;
use godel_postgres::testing::TestDatabase;
use godel_queue::{
    AgentId, Eligibility, ManualClock, NewTask, Priority, QueueConfig, QueueStore, TaskId,
    TaskQuery, TaskStatus, TenantId,
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
