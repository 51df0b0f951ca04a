//! Group commit: concurrent enqueues share transactions, each is durable when its call
//! returns, and a refused submission fails alone (a caller's batch all or nothing).

use std::collections::HashSet;
use std::sync::Arc;

use godel_postgres::queue::PgQueueStore;
use godel_postgres::testing::TestDatabase;
use godel_queue::{
    ErrorKind, ManualClock, NewTask, QueueConfig, QueueError, QueueStore, TaskId, TaskStatus,
    TenantId,
};

const CALLERS: usize = 200;

fn task(tenant: &str) -> NewTask {
    NewTask::new(
        TenantId::parse(tenant).unwrap(),
        serde_json::json!({"prompt": "work"}),
    )
}

async fn store(db: &TestDatabase) -> Arc<PgQueueStore> {
    let clock = ManualClock::default();
    Arc::new(PgQueueStore::new(db.pool(8).await, QueueConfig::default(), Arc::new(clock)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enqueues_are_grouped_and_durable_when_answered() {
    let Some(db) = TestDatabase::create().await else {
        return; // no server, and live tests may skip
    };
    let store = store(&db).await;
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let tenant = ["acme", "globex"][i % 2];
                store.enqueue(task(tenant)).await.unwrap().id
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for caller in callers {
        ids.insert(caller.await.unwrap());
    }
    assert_eq!(ids.len(), CALLERS);

    // Read through connections of their own: each answered enqueue is committed.
    let reader = db.pool(1).await;
    let stored: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM tasks")
        .fetch_all(&reader)
        .await
        .unwrap();
    let stored: HashSet<TaskId> = stored.into_iter().map(TaskId::from_uuid).collect();
    assert_eq!(stored, ids, "every answered enqueue is durable");
    for id in &ids {
        assert_eq!(store.get(*id).await.unwrap().status, TaskStatus::Pending);
    }

    let grouping = store.group_commit_stats();
    assert_eq!(grouping.submissions, CALLERS as u64);
    assert!(
        grouping.groups < grouping.submissions,
        "{CALLERS} concurrent enqueues took {} transactions",
        grouping.groups
    );
    let seqs: HashSet<u64> = {
        let mut seqs = HashSet::new();
        for id in &ids {
            seqs.insert(store.get(*id).await.unwrap().seq);
        }
        seqs
    };
    assert_eq!(
        seqs.len(),
        CALLERS,
        "every task has its own enqueue position"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_submission_does_not_fail_the_others_in_its_group() {
    let Some(db) = TestDatabase::create().await else {
        return; // no server, and live tests may skip
    };
    let store = store(&db).await;
    let existing = store.enqueue(task("acme")).await.unwrap().id;

    let good: Vec<NewTask> = (0..40).map(|_| task("acme")).collect();
    let good_ids: Vec<TaskId> = good.iter().map(|t| t.id).collect();
    let duplicate = task("acme").with_id(existing);
    let orphan = task("acme").depends_on(TaskId::generate());
    let half_good = task("globex");
    let half_good_id = half_good.id;
    let bad_batch = vec![half_good, task("globex").with_max_attempts(0)];

    let mut calls = Vec::new();
    for t in good {
        let store = Arc::clone(&store);
        calls.push(tokio::spawn(
            async move { store.enqueue_batch(vec![t]).await },
        ));
    }
    let refused: Vec<_> = [vec![duplicate], vec![orphan], bad_batch]
        .into_iter()
        .map(|batch| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.enqueue_batch(batch).await })
        })
        .collect();

    for call in calls {
        let enqueued = call.await.unwrap().expect("a good submission succeeds");
        assert!(!enqueued[0].deduplicated);
    }
    let errors: Vec<QueueError> = {
        let mut errors = Vec::new();
        for call in refused {
            errors.push(
                call.await
                    .unwrap()
                    .expect_err("a bad submission is refused"),
            );
        }
        errors
    };
    assert!(matches!(errors[0], QueueError::AlreadyExists(id) if id == existing));
    assert!(matches!(errors[1], QueueError::UnknownDependency { .. }));
    assert_eq!(errors[2].kind(), ErrorKind::Invalid);

    for id in &good_ids {
        assert_eq!(store.get(*id).await.unwrap().status, TaskStatus::Pending);
    }
    assert!(
        matches!(store.get(half_good_id).await, Err(QueueError::NotFound(_))),
        "a refused batch leaves none of its tasks behind"
    );
    assert_eq!(store.stats().await.unwrap().enqueued, 41);
}
