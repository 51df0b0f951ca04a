//! The paired store under faults: Redis flushed mid-run, Redis unreachable, a store started
//! degraded, and a stale index. Postgres stays the truth throughout: every accepted task
//! completes exactly once and never has two holders at a time. Without reachable servers the
//! cases skip (fail under `GODEL_TEST_LIVE=require`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use godel::store::{IndexHealth, PairedQueueStore};
use godel_postgres::queue::PgQueueStore;
use godel_postgres::testing::TestDatabase;
use godel_queue::conformance::{agent_id, task};
use godel_queue::{
    Eligibility, ManualClock, Priority, QueueConfig, QueueStore, TaskId, TaskQuery, TaskStatus,
};
use godel_redis::RedisQueueStore;
use godel_redis::testing::TestRedis;
use time::OffsetDateTime;

/// How long a bounded wait may take before the case fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// A paired store on live servers, with the fixtures it runs on.
struct Pair {
    store: PairedQueueStore,
    redis: TestRedis,
    _db: TestDatabase,
}

/// The Postgres store of a fresh database, on a clock standing still.
async fn postgres(clock: &ManualClock) -> Option<(PgQueueStore, TestDatabase)> {
    let db = TestDatabase::create().await?;
    let pg = PgQueueStore::new(
        db.pool(16).await,
        QueueConfig::default(),
        Arc::new(clock.clone()),
    )
    .expect("valid config");
    Some((pg, db))
}

/// A paired store on live servers, not yet reconciled (degraded); `None` when a server is
/// unreachable and live tests may skip.
async fn unreconciled() -> Option<Pair> {
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let (pg, db) = postgres(&clock).await?;
    let redis = TestRedis::create().await?;
    let index = RedisQueueStore::new(
        redis.pool().clone(),
        redis.prefix().to_owned(),
        QueueConfig::default(),
        Arc::new(clock),
    )
    .expect("valid config");
    Some(Pair {
        store: PairedQueueStore::new(Arc::new(pg), Arc::new(index)),
        redis,
        _db: db,
    })
}

/// A paired store on live servers with its index built.
async fn reconciled() -> Option<Pair> {
    let pair = unreconciled().await?;
    pair.store.reconcile().await.expect("build the index");
    assert_eq!(pair.store.health(), IndexHealth::Indexed);
    Some(pair)
}

/// Polls `condition` until it holds, failing the case after [`PATIENCE`].
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The status of every task the Redis index holds.
async fn indexed_statuses(store: &PairedQueueStore) -> HashMap<TaskId, TaskStatus> {
    store
        .redis()
        .export()
        .await
        .expect("export the index")
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect()
}

/// What the workers of the flush case saw.
#[derive(Default)]
struct Ledger {
    /// Successful acks per task.
    acks: HashMap<TaskId, u32>,
    /// The fence of each task's current holder.
    holders: HashMap<TaskId, u64>,
    /// Every fence handed out.
    fences: HashSet<u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flushed_index_is_rebuilt_and_every_task_completes_exactly_once() {
    let Some(pair) = reconciled().await else {
        return;
    };
    const TASKS: usize = 300;
    let tenants = ["acme", "globex", "initech"];
    let mut accepted = Vec::with_capacity(TASKS);
    for chunk in 0..TASKS / 50 {
        let batch = (0..50)
            .map(|i| {
                let n = chunk * 50 + i;
                task(tenants[n % tenants.len()]).with_priority(Priority::ALL[n % 4])
            })
            .collect();
        let out = pair.store.enqueue_batch(batch).await.expect("enqueue");
        accepted.extend(out.into_iter().map(|e| e.id));
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (store, ledger, acked) = (pair.store.clone(), ledger.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            let agent = agent_id(&format!("worker-{w}"));
            let deadline = Instant::now() + PATIENCE;
            while acked.load(Ordering::SeqCst) < TASKS {
                assert!(Instant::now() < deadline, "workers did not finish");
                let leases = store
                    .claim(&agent, &Eligibility::any(), 5)
                    .await
                    .expect("claim");
                if leases.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                for lease in leases {
                    {
                        let mut l = ledger.lock().unwrap_or_else(PoisonError::into_inner);
                        assert!(
                            l.fences.insert(lease.token.fence),
                            "fence {} handed out twice",
                            lease.token.fence
                        );
                        let before = l.holders.insert(lease.token.task, lease.token.fence);
                        assert_eq!(before, None, "task {} has two holders", lease.token.task);
                    }
                    store
                        .ack(&lease.token, None)
                        .await
                        .expect("ack a live lease");
                    let mut l = ledger.lock().unwrap_or_else(PoisonError::into_inner);
                    l.holders.remove(&lease.token.task);
                    *l.acks.entry(lease.token.task).or_default() += 1;
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }

    eventually("a third of the tasks are done", async || {
        acked.load(Ordering::SeqCst) >= TASKS / 3
    })
    .await;
    pair.redis.flush().await;
    // Tasks remain, so workers keep claiming; the first claim finds the sentinel gone.
    eventually("a claim notices the lost index", async || {
        pair.store.health() != IndexHealth::Indexed
    })
    .await;
    pair.store.reconcile().await.expect("rebuild the index");
    assert_eq!(pair.store.health(), IndexHealth::Indexed);
    for worker in workers {
        worker.await.expect("worker");
    }

    let acks = std::mem::take(&mut ledger.lock().unwrap_or_else(PoisonError::into_inner).acks);
    assert_eq!(acks.len(), TASKS);
    for id in &accepted {
        assert_eq!(acks.get(id), Some(&1), "task {id} acked once");
    }
    let counts = pair
        .store
        .count(&TaskQuery::default())
        .await
        .expect("count");
    assert_eq!(counts.get(TaskStatus::Completed), TASKS as u64);
    assert_eq!(pair.store.depth().await.expect("depth").total(), 0);
    // The rebuilt index followed every later write: it agrees with Postgres.
    let indexed = indexed_statuses(&pair.store).await;
    assert_eq!(indexed.len(), TASKS);
    assert!(indexed.values().all(|s| *s == TaskStatus::Completed));
}

#[tokio::test]
async fn the_background_reconciler_rebuilds_a_flushed_index() {
    let Some(pair) = reconciled().await else {
        return;
    };
    let id = pair.store.enqueue(task("acme")).await.expect("enqueue").id;
    let reconciler = pair.store.spawn_reconciler(Duration::from_millis(20));
    pair.redis.flush().await;
    eventually("the index holds the task again", async || {
        pair.store
            .redis()
            .index_epoch()
            .await
            .expect("redis")
            .is_some()
            && indexed_statuses(&pair.store).await.get(&id) == Some(&TaskStatus::Pending)
    })
    .await;
    reconciler.abort();
    let leases = pair
        .store
        .claim(&agent_id("a1"), &Eligibility::any(), 1)
        .await
        .expect("claim");
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].task.id, id);
    assert_eq!(pair.store.health(), IndexHealth::Indexed);
}

#[tokio::test]
async fn an_unreachable_redis_leaves_the_queue_running_on_postgres() {
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let Some((pg, _db)) = postgres(&clock).await else {
        return;
    };
    let index = RedisQueueStore::connect(
        "redis://127.0.0.1:1",
        "godel_t_unreachable",
        QueueConfig::default(),
        Arc::new(clock),
    )
    .expect("a pool is built without connecting");
    let store = PairedQueueStore::new(Arc::new(pg), Arc::new(index));
    assert!(store.reconcile().await.is_err(), "nothing to rebuild into");
    let IndexHealth::Degraded { reason } = store.health() else {
        panic!("the store must report itself degraded");
    };
    assert!(!reason.is_empty());

    let batch = (0..10).map(|_| task("acme")).collect();
    let accepted = store
        .enqueue_batch(batch)
        .await
        .expect("enqueue on postgres");
    let leases = store
        .claim(&agent_id("a1"), &Eligibility::any(), 10)
        .await
        .expect("claim on postgres");
    assert_eq!(leases.len(), accepted.len());
    for lease in &leases {
        store
            .ack(&lease.token, None)
            .await
            .expect("ack on postgres");
    }
    let counts = store.count(&TaskQuery::default()).await.expect("count");
    assert_eq!(counts.get(TaskStatus::Completed), 10);
    assert!(matches!(store.health(), IndexHealth::Degraded { .. }));
}

#[tokio::test]
async fn tasks_submitted_while_degraded_are_claimed_through_the_index_once_rebuilt() {
    let Some(pair) = unreconciled().await else {
        return;
    };
    assert!(matches!(pair.store.health(), IndexHealth::Degraded { .. }));
    let batch = (0..5).map(|_| task("acme")).collect();
    let accepted: Vec<TaskId> = pair
        .store
        .enqueue_batch(batch)
        .await
        .expect("enqueue while degraded")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(
        indexed_statuses(&pair.store).await.is_empty(),
        "not mirrored"
    );

    let reconciler = pair.store.spawn_reconciler(Duration::from_millis(20));
    eventually("the index is in use", async || {
        pair.store.health() == IndexHealth::Indexed
    })
    .await;
    reconciler.abort();
    let leases = pair
        .store
        .claim(&agent_id("a1"), &Eligibility::any(), 10)
        .await
        .expect("claim");
    let claimed: Vec<TaskId> = leases.iter().map(|l| l.task.id).collect();
    assert_eq!(claimed, accepted, "every task, in enqueue order");
    // Redis picked them: it holds each lease under the fence Postgres adopted.
    let exported = pair.store.redis().export().await.expect("export");
    for lease in &leases {
        let record = exported
            .iter()
            .find(|r| r.id == lease.task.id)
            .expect("indexed");
        assert_eq!(record.status, TaskStatus::Assigned);
        assert_eq!(record.lease_fence, Some(lease.token.fence));
        assert_eq!(lease.task.lease_fence, Some(lease.token.fence));
    }
}

#[tokio::test]
async fn a_claim_from_a_stale_index_never_returns_a_task_postgres_cancelled() {
    let Some(pair) = reconciled().await else {
        return;
    };
    let stale = pair.store.enqueue(task("acme")).await.expect("enqueue").id;
    let live = pair.store.enqueue(task("acme")).await.expect("enqueue").id;
    // Cancelled in Postgres behind the index's back: Redis still holds it as pending.
    pair.store
        .postgres()
        .cancel(stale, "changed my mind")
        .await
        .expect("cancel");
    assert_eq!(
        indexed_statuses(&pair.store).await.get(&stale),
        Some(&TaskStatus::Pending)
    );

    let leases = pair
        .store
        .claim(&agent_id("a1"), &Eligibility::any(), 10)
        .await
        .expect("claim");
    let claimed: Vec<TaskId> = leases.iter().map(|l| l.task.id).collect();
    assert_eq!(claimed, vec![live]);
    assert_eq!(
        pair.store.get(stale).await.expect("get").status,
        TaskStatus::Cancelled
    );
    // The refused entry was mirrored again from Postgres.
    assert_eq!(
        indexed_statuses(&pair.store).await.get(&stale),
        Some(&TaskStatus::Cancelled)
    );
    assert_eq!(pair.store.health(), IndexHealth::Indexed);
}
