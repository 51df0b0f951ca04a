//! The memory store under real parallelism: producers, claimers and a reaper on several OS
//! threads at once. Every task completes exactly once, no lease is handed out twice, and the
//! load counters end at zero.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use godel_queue::{
    AgentId, Eligibility, Failure, ManualClock, MemoryQueueStore, NewTask, Priority, QueueConfig,
    QueueStore, TaskStatus, TenantId,
};

const PRODUCERS: usize = 4;
const PER_PRODUCER: usize = 2_000;
const CLAIMERS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_producers_and_claimers_complete_every_task_exactly_once() {
    let clock = ManualClock::default();
    let store = Arc::new(
        MemoryQueueStore::try_new(QueueConfig::default(), Arc::new(clock.clone())).unwrap(),
    );

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let tenant = TenantId::parse(&format!("tenant-{p}")).unwrap();
                let mut ids = Vec::with_capacity(PER_PRODUCER);
                for i in 0..PER_PRODUCER {
                    let priority = Priority::ALL[i % 4];
                    let task = NewTask::new(tenant.clone(), serde_json::json!({ "i": i }))
                        .with_priority(priority);
                    ids.push(store.enqueue(task).await.unwrap().id);
                    if i.is_multiple_of(64) {
                        tokio::task::yield_now().await;
                    }
                }
                ids
            })
        })
        .collect();

    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|c| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let agent = AgentId::parse(&format!("agent-{c}")).unwrap();
                let mut completed = Vec::new();
                let mut idle_rounds = 0;
                while idle_rounds < 200 {
                    let leases = store.claim(&agent, &Eligibility::any(), 4).await.unwrap();
                    if leases.is_empty() {
                        idle_rounds += 1;
                        tokio::task::yield_now().await;
                        continue;
                    }
                    idle_rounds = 0;
                    for (n, lease) in leases.into_iter().enumerate() {
                        store.start(&lease.token).await.unwrap();
                        if (lease.task.seq + n as u64).is_multiple_of(7) && lease.attempt == 1 {
                            // Some first attempts fail and come back after their backoff.
                            store
                                .fail(&lease.token, Failure::retryable("flaky"))
                                .await
                                .unwrap();
                        } else {
                            store.ack(&lease.token, None).await.unwrap();
                            completed.push(lease.task.id);
                        }
                    }
                }
                completed
            })
        })
        .collect();

    let mut enqueued = HashSet::new();
    for p in producers {
        enqueued.extend(p.await.unwrap());
    }
    // Let failed tasks' backoff pass so they become due again for the claimers still running.
    clock.advance(Duration::from_secs(5));

    let mut completed = Vec::new();
    for c in claimers {
        completed.extend(c.await.unwrap());
    }
    // Anything a claimer left behind (it stopped while retries were not yet due) is drained here.
    clock.advance(Duration::from_secs(5));
    let agent = AgentId::parse("closer").unwrap();
    loop {
        let leases = store.claim(&agent, &Eligibility::any(), 64).await.unwrap();
        if leases.is_empty() {
            break;
        }
        for lease in leases {
            store.ack(&lease.token, None).await.unwrap();
            completed.push(lease.task.id);
        }
    }

    let unique: HashSet<_> = completed.iter().copied().collect();
    assert_eq!(completed.len(), unique.len(), "a task was completed twice");
    let missing = enqueued.difference(&unique).count();
    let unknown = unique.difference(&enqueued).count();
    assert_eq!(
        (missing, unknown),
        (0, 0),
        "every enqueued task completed, and nothing else"
    );
    for id in &enqueued {
        assert_eq!(store.get(*id).await.unwrap().status, TaskStatus::Completed);
    }
    for c in 0..CLAIMERS {
        assert_eq!(
            store
                .load(&AgentId::parse(&format!("agent-{c}")).unwrap())
                .await
                .unwrap(),
            0
        );
    }
    assert_eq!(store.depth().await.unwrap().total(), 0);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.completed, (PRODUCERS * PER_PRODUCER) as u64);
    assert_eq!(stats.claimed, stats.completed + stats.failed_attempts);
}
