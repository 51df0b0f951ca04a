//! The SQLite queue: it passes the whole queue conformance suite on a real file database, and
//! what it answered survives closing and reopening the file.

use std::sync::Arc;
use std::time::Duration;

use godel_queue::{
    AgentId, Eligibility, ManualClock, NewTask, Priority, QueueConfig, QueueStore, TaskQuery,
    TaskStatus, TenantId,
};
use godel_sqlite::SqliteQueueStore;
use godel_sqlite::testing::{QueueFactory, TempDir};
use serde_json::json;

godel_queue::queue_conformance!(QueueFactory::default());

async fn open(dir: &TempDir, clock: &ManualClock) -> SqliteQueueStore {
    SqliteQueueStore::open(
        dir.pool().await,
        Some(&dir.queue_lock()),
        QueueConfig::default(),
        Arc::new(clock.clone()),
    )
    .await
    .expect("open the queue")
}

fn task(tenant: &str, n: usize) -> NewTask {
    NewTask::new(TenantId::parse(tenant).unwrap(), json!({ "n": n }))
}

#[tokio::test]
async fn every_answered_change_survives_a_reopen() {
    let dir = TempDir::new();
    let clock = ManualClock::default();
    let agent = AgentId::parse("agent-1").unwrap();
    let (before, open_lease) = {
        let store = open(&dir, &clock).await;
        for n in 0..20 {
            let priority = Priority::ALL[n % 4];
            store
                .enqueue(task("acme", n).with_priority(priority))
                .await
                .unwrap();
        }
        let leases = store.claim(&agent, &Eligibility::any(), 3).await.unwrap();
        store.start(&leases[0].token).await.unwrap();
        store.ack(&leases[1].token, None).await.unwrap();
        let before = store
            .list(&TaskQuery::default(), None, usize::MAX)
            .await
            .unwrap();
        (before, leases[2].token)
    };
    let store = open(&dir, &clock).await;
    let after = store
        .list(&TaskQuery::default(), None, usize::MAX)
        .await
        .unwrap();
    assert_eq!(after, before);
    assert_eq!(store.load(&agent).await.unwrap(), 2);
    // The open lease is still the live one, and new fences come after it.
    store.heartbeat(&open_lease).await.unwrap();
    let next = store.claim(&agent, &Eligibility::any(), 1).await.unwrap();
    assert!(next[0].token.fence > open_lease.fence);
    assert_eq!(next[0].task.priority, Priority::Critical);
}

#[tokio::test]
async fn a_second_owner_cannot_open_the_same_queue() {
    let dir = TempDir::new();
    let clock = ManualClock::default();
    let _owner = open(&dir, &clock).await;
    let second = SqliteQueueStore::open(
        dir.pool().await,
        Some(&dir.queue_lock()),
        QueueConfig::default(),
        Arc::new(clock),
    )
    .await
    .unwrap_err();
    assert!(
        second
            .to_string()
            .contains("another process owns this queue"),
        "{second}"
    );
}

#[tokio::test]
async fn the_lock_is_released_when_the_store_is_dropped() {
    let dir = TempDir::new();
    let clock = ManualClock::default();
    drop(open(&dir, &clock).await);
    open(&dir, &clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submitters_share_commits_and_lose_nothing() {
    let dir = TempDir::new();
    let clock = ManualClock::default();
    let store = Arc::new(open(&dir, &clock).await);
    let submitters: Vec<_> = (0..32)
        .map(|s| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..25 {
                    store
                        .enqueue(task(&format!("t{}", s % 4), n))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for s in submitters {
        s.await.unwrap();
    }
    drop(store);
    let store = open(&dir, &clock).await;
    let counts = store.count(&TaskQuery::default()).await.unwrap();
    assert_eq!(counts.get(TaskStatus::Pending), 800);
}

#[tokio::test]
async fn due_times_and_dead_letters_survive_a_reopen() {
    let dir = TempDir::new();
    let clock = ManualClock::default();
    let agent = AgentId::parse("agent-1").unwrap();
    let (scheduled, dead) = {
        let store = open(&dir, &clock).await;
        let at = godel_queue::Clock::now(&clock) + Duration::from_secs(60);
        let scheduled = store
            .enqueue(task("acme", 0).scheduled_at(at))
            .await
            .unwrap()
            .id;
        let dead = store
            .enqueue(task("acme", 1).with_max_attempts(1))
            .await
            .unwrap()
            .id;
        let lease = store.claim(&agent, &Eligibility::any(), 1).await.unwrap();
        store
            .fail(&lease[0].token, godel_queue::Failure::retryable("boom"))
            .await
            .unwrap();
        (scheduled, dead)
    };
    let store = open(&dir, &clock).await;
    assert_eq!(
        store.get(dead).await.unwrap().status,
        TaskStatus::DeadLetter
    );
    assert!(
        store
            .claim(&agent, &Eligibility::any(), 1)
            .await
            .unwrap()
            .is_empty()
    );
    clock.advance(Duration::from_secs(61));
    let lease = store.claim(&agent, &Eligibility::any(), 1).await.unwrap();
    assert_eq!(lease[0].task.id, scheduled);
    store.replay(dead).await.unwrap();
    assert_eq!(store.get(dead).await.unwrap().status, TaskStatus::Pending);
}
