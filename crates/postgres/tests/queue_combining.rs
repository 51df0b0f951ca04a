//! Combined claims and acks: concurrent callers share transactions, and each still gets
//! exactly the answer it would have got alone (its own leases in claim order, its own refusal),
//! also when a second store on the same database (another replica) races for the same tasks.

use std::collections::HashSet;
use std::sync::Arc;

use godel_postgres::queue::PgQueueStore;
use godel_postgres::testing::TestDatabase;
use godel_queue::{
    AgentId, Capabilities, Eligibility, ErrorKind, LeaseToken, ManualClock, NewTask, Priority,
    QueueConfig, QueueError, QueueStore, TaskId, TaskStatus, TenantId,
};

async fn store(db: &TestDatabase) -> Arc<PgQueueStore> {
    let clock = ManualClock::default();
    Arc::new(PgQueueStore::new(db.pool(8).await, QueueConfig::default(), Arc::new(clock)).unwrap())
}

fn task(n: usize) -> NewTask {
    NewTask::new(
        TenantId::parse("acme").unwrap(),
        serde_json::json!({ "n": n }),
    )
    .with_priority(Priority::ALL[n % Priority::ALL.len()])
}

fn agent(n: usize) -> AgentId {
    AgentId::parse(&format!("agent-{n}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_share_transactions_and_each_gets_its_own_leases() {
    let Some(db) = TestDatabase::create().await else {
        return; // no server, and live tests may skip
    };
    let store = store(&db).await;
    let gpu = Capabilities::parse(["gpu"]).unwrap();
    let mut tasks: Vec<NewTask> = (0..300).map(task).collect();
    tasks.extend((300..340).map(|n| task(n).with_capabilities(gpu.clone())));
    let enqueued: HashSet<TaskId> = store
        .enqueue_batch(tasks)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();

    // 60 claimers at once: a third can run GPU tasks, and they ask for 1 to 3 tasks each.
    let claims: Vec<_> = (0..60)
        .map(|n| {
            let store = Arc::clone(&store);
            let eligibility = Eligibility {
                capabilities: if n % 3 == 0 {
                    gpu.clone()
                } else {
                    Capabilities::default()
                },
                ..Eligibility::default()
            };
            tokio::spawn(async move {
                let leases = store
                    .claim(&agent(n), &eligibility, 1 + n % 3)
                    .await
                    .unwrap();
                (n, eligibility, leases)
            })
        })
        .collect();
    let mut leased = HashSet::new();
    for claim in claims {
        let (n, eligibility, leases) = claim.await.unwrap();
        assert!(
            leases.len() <= 1 + n % 3,
            "claimer {n} got more than it asked"
        );
        assert_eq!(
            leases.len(),
            1 + n % 3,
            "tasks were left, so claimer {n} got all it asked"
        );
        for pair in leases.windows(2) {
            assert!(
                pair[0].token.fence < pair[1].token.fence,
                "fences rise in claim order"
            );
            assert!(
                pair[0].task.priority.rank() <= pair[1].task.priority.rank(),
                "a claim's leases come most urgent first"
            );
        }
        for lease in leases {
            assert_eq!(
                lease.task.assignee.as_ref(),
                Some(&agent(n)),
                "leased to its claimer"
            );
            assert!(
                lease
                    .task
                    .capabilities
                    .is_subset_of(&eligibility.capabilities),
                "claimer {n} got a task it cannot run"
            );
            assert!(leased.insert(lease.task.id), "a task was leased twice");
            assert!(enqueued.contains(&lease.task.id));
        }
    }
    let stats = store.claim_group_stats();
    assert_eq!(stats.submissions, 60);
    assert!(stats.groups >= 1 && stats.groups <= 60, "{stats:?}");
    assert_eq!(store.stats().await.unwrap().claimed, leased.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn combined_acks_complete_live_leases_and_refuse_each_stale_one_alone() {
    let Some(db) = TestDatabase::create().await else {
        return; // no server, and live tests may skip
    };
    let store = store(&db).await;
    let first = store.enqueue(task(0)).await.unwrap().id;
    let dependent = store.enqueue(task(1).depends_on(first)).await.unwrap().id;
    for n in 2..40 {
        store.enqueue(task(n)).await.unwrap();
    }
    let leases = store
        .claim(&agent(0), &Eligibility::any(), 39)
        .await
        .unwrap();
    assert_eq!(leases.len(), 39, "all but the blocked dependent");

    // Every lease acked at once, after a wrong fence for one of them (sent first, so it
    // usually lands in the same group ahead of the live one) and a task that does not exist.
    let stale = LeaseToken {
        task: leases[5].token.task,
        fence: leases[5].token.fence + 1_000,
    };
    let mut acks: Vec<(LeaseToken, bool)> = vec![(stale, false)];
    acks.extend(leases.iter().map(|l| (l.token, true)));
    acks.push((
        LeaseToken {
            task: TaskId::generate(),
            fence: 1,
        },
        false,
    ));
    let calls: Vec<_> = acks
        .into_iter()
        .map(|(token, live)| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { (token, live, store.ack(&token, None).await) })
        })
        .collect();
    for call in calls {
        let (token, live, answer) = call.await.unwrap();
        match answer {
            Ok(()) => assert!(live, "{token:?} was acked though not live"),
            Err(QueueError::StaleLease { .. } | QueueError::NotFound(_)) => {
                assert!(!live, "{token:?} was live but refused");
            }
            Err(e) => panic!("unexpected {e} ({:?})", e.kind()),
        }
    }
    assert_eq!(
        store.get(leases[5].token.task).await.unwrap().status,
        TaskStatus::Completed,
        "the stale ack did not undo the live one"
    );
    assert_eq!(
        store.get(dependent).await.unwrap().status,
        TaskStatus::Pending,
        "completing its dependency unblocked the dependent"
    );
    let again = store.ack(&leases[0].token, None).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::StaleLease, "an ack counts once");
    assert_eq!(store.stats().await.unwrap().completed, 39);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_never_lease_a_task_twice() {
    let Some(db) = TestDatabase::create().await else {
        return; // no server, and live tests may skip
    };
    // Two replicas: their combined claims race for the same rows, so a planned lease is
    // sometimes held by the other and must be stepped over.
    let stores = [store(&db).await, store(&db).await];
    let tasks: Vec<NewTask> = (0..400).map(task).collect();
    stores[0].enqueue_batch(tasks).await.unwrap();
    let claimers: Vec<_> = (0..40)
        .map(|n| {
            let store = Arc::clone(&stores[n % 2]);
            tokio::spawn(async move {
                let mut tokens = Vec::new();
                loop {
                    let leases = store
                        .claim(&agent(n), &Eligibility::any(), 2)
                        .await
                        .unwrap();
                    if leases.is_empty() {
                        if store.depth().await.unwrap().total() == 0 {
                            return tokens;
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                    for lease in leases {
                        store.ack(&lease.token, None).await.unwrap();
                        tokens.push(lease.token);
                    }
                }
            })
        })
        .collect();
    let mut tasks = HashSet::new();
    for claimer in claimers {
        for token in claimer.await.unwrap() {
            assert!(tasks.insert(token.task), "{} leased twice", token.task);
        }
    }
    assert_eq!(tasks.len(), 400);
    assert_eq!(stores[0].stats().await.unwrap().completed, 400);
}
