//! The change journal and `restore`: a store rebuilt from everything its journal handed out
//! holds the same tasks, the same depth and loads, and goes on exactly as the original would.
//! This is what makes the SQLite store (a journaled memory store written to disk) durable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use godel_queue::{
    AgentId, Capabilities, Clock, Counters, Eligibility, Failure, LeaseToken, Limit, LimitKey,
    ManualClock, MemoryQueueStore, NewTask, Priority, QueueConfig, QueueStore, Snapshot,
    StoredTask, TaskId, TaskQuery, TaskStatus, TenantId, TenantPolicy,
};
use proptest::prelude::*;
use serde_json::json;

/// What a durable store would have written: the journal's batches applied in order.
#[derive(Default)]
struct Disk {
    tasks: BTreeMap<TaskId, StoredTask>,
    policies: BTreeMap<String, (TenantId, TenantPolicy)>,
    limits: BTreeMap<String, (LimitKey, Limit)>,
    counters: Counters,
    version: u64,
}

impl Disk {
    fn write(&mut self, store: &MemoryQueueStore) {
        let batch = store.take_journal();
        assert!(
            batch.version >= self.version,
            "journal versions never go back"
        );
        self.version = batch.version;
        self.counters = batch.counters;
        for id in batch.removed {
            self.tasks.remove(&id);
        }
        for task in batch.tasks {
            self.tasks.insert(task.record.id, task);
        }
        for (tenant, policy) in batch.policies {
            self.policies
                .insert(tenant.as_str().to_owned(), (tenant, policy));
        }
        for (key, limit) in batch.limits {
            self.limits.insert(key.as_str().to_owned(), (key, limit));
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            tasks: self.tasks.values().cloned().collect(),
            policies: self.policies.values().cloned().collect(),
            limits: self.limits.values().cloned().collect(),
            counters: self.counters,
        }
    }
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn agent(name: &str) -> AgentId {
    AgentId::parse(name).unwrap()
}

fn journaled(clock: &ManualClock) -> MemoryQueueStore {
    MemoryQueueStore::try_new(QueueConfig::default(), Arc::new(clock.clone()))
        .unwrap()
        .with_journal()
}

fn restored(disk: &Disk, clock: &ManualClock) -> MemoryQueueStore {
    MemoryQueueStore::restore(
        QueueConfig::default(),
        Arc::new(clock.clone()),
        disk.snapshot(),
    )
    .expect("restore what the journal wrote")
}

async fn everything(store: &MemoryQueueStore) -> Vec<godel_queue::TaskRecord> {
    store
        .list(&TaskQuery::default(), None, usize::MAX)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_store_off_journal_hands_out_nothing() {
    let store = MemoryQueueStore::new();
    store
        .enqueue(NewTask::new(tenant("acme"), json!({})))
        .await
        .unwrap();
    assert_eq!(store.journal_version(), 0);
    assert!(store.take_journal().is_empty());
}

#[tokio::test]
async fn every_status_survives_a_restore() {
    let clock = ManualClock::default();
    let store = journaled(&clock);
    let mut disk = Disk::default();
    let acme = tenant("acme");
    store
        .set_tenant_policy(
            &acme,
            TenantPolicy {
                weight: 3,
                ..TenantPolicy::default()
            },
        )
        .await
        .unwrap();
    let gpu = LimitKey::parse("model:gpu").unwrap();
    store
        .set_limit(
            &gpu,
            Some(Limit {
                max_running: Some(2),
                ..Limit::default()
            }),
        )
        .await
        .unwrap();

    let put = |task: NewTask| {
        let store = &store;
        async move { store.enqueue(task).await.unwrap().id }
    };
    let plain = || NewTask::new(acme.clone(), json!({"do": "x"}));
    let running = put(plain()
        .with_priority(Priority::Critical)
        .with_limit_key(gpu.clone()))
    .await;
    let assigned = put(plain().with_priority(Priority::High)).await;
    let to_fail = put(plain().with_priority(Priority::High)).await;
    let to_dead = put(plain().with_priority(Priority::High).with_max_attempts(1)).await;
    let done = put(plain().with_priority(Priority::High)).await;
    let blocked = put(plain()
        .depends_on(running)
        .with_idempotency_key("blocked-1"))
    .await;
    let scheduled = put(plain().scheduled_at(clock.now() + Duration::from_secs(60))).await;
    let cancelled = put(plain()).await;
    let pending = put(plain().with_group(uuid::Uuid::nil())).await;

    let leases = store
        .claim(&agent("a1"), &Eligibility::any(), 5)
        .await
        .unwrap();
    let token = |id: TaskId| leases.iter().find(|l| l.task.id == id).unwrap().token;
    store.start(&token(running)).await.unwrap();
    store
        .fail(&token(to_fail), Failure::retryable("flaky"))
        .await
        .unwrap();
    store
        .fail(&token(to_dead), Failure::retryable("boom"))
        .await
        .unwrap();
    store
        .ack(&token(done), Some(json!({"ok": true}).into()))
        .await
        .unwrap();
    store.cancel(cancelled, "not needed").await.unwrap();
    disk.write(&store);

    let copy = restored(&disk, &clock);
    assert_eq!(everything(&copy).await, everything(&store).await);
    assert_eq!(copy.depth().await.unwrap(), store.depth().await.unwrap());
    assert_eq!(copy.load(&agent("a1")).await.unwrap(), 2);
    let status = |id| {
        let copy = &copy;
        async move { copy.get(id).await.unwrap().status }
    };
    assert_eq!(status(running).await, TaskStatus::Running);
    assert_eq!(status(assigned).await, TaskStatus::Assigned);
    assert_eq!(status(to_fail).await, TaskStatus::Failed);
    assert_eq!(status(to_dead).await, TaskStatus::DeadLetter);
    assert_eq!(status(done).await, TaskStatus::Completed);
    assert_eq!(status(blocked).await, TaskStatus::Blocked);
    assert_eq!(status(scheduled).await, TaskStatus::Scheduled);
    assert_eq!(status(cancelled).await, TaskStatus::Cancelled);
    assert_eq!(status(pending).await, TaskStatus::Pending);

    // Leases keep their fences: the live token works, and new fences come after it.
    copy.heartbeat(&token(assigned)).await.unwrap();
    let stale = LeaseToken {
        task: assigned,
        fence: token(assigned).fence - 1,
    };
    assert!(copy.heartbeat(&stale).await.is_err());
    // The idempotency key still deduplicates.
    let again = copy
        .enqueue(plain().with_idempotency_key("blocked-1"))
        .await
        .unwrap();
    assert!(again.deduplicated);
    assert_eq!(again.id, blocked);
    // The blocked task still waits for its dependency and is released by its completion.
    copy.ack(&token(running), None).await.unwrap();
    assert_eq!(status(blocked).await, TaskStatus::Pending);
    let next = copy
        .claim(&agent("a2"), &Eligibility::any(), 10)
        .await
        .unwrap();
    assert!(next.iter().all(|l| l.token.fence > token(running).fence));
}

#[tokio::test]
async fn purged_tasks_leave_the_journal_as_removals() {
    let clock = ManualClock::default();
    let store = journaled(&clock);
    let mut disk = Disk::default();
    let id = store
        .enqueue(NewTask::new(tenant("acme"), json!({})))
        .await
        .unwrap()
        .id;
    store.cancel(id, "gone").await.unwrap();
    disk.write(&store);
    assert!(disk.tasks.contains_key(&id));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        store.purge_finished(Duration::from_secs(60)).await.unwrap(),
        1
    );
    disk.write(&store);
    assert!(!disk.tasks.contains_key(&id));
    let copy = restored(&disk, &clock);
    assert!(copy.get(id).await.is_err());
}

#[tokio::test]
async fn a_leased_task_stored_without_its_fence_is_refused() {
    let clock = ManualClock::default();
    let store = journaled(&clock);
    let mut disk = Disk::default();
    store
        .enqueue(NewTask::new(tenant("acme"), json!({})))
        .await
        .unwrap();
    store
        .claim(&agent("a1"), &Eligibility::any(), 1)
        .await
        .unwrap();
    disk.write(&store);
    let mut snapshot = disk.snapshot();
    snapshot.tasks[0].record.lease_fence = None;
    let error =
        MemoryQueueStore::restore(QueueConfig::default(), Arc::new(clock), snapshot).unwrap_err();
    assert!(error.to_string().contains("lease_fence"), "{error}");
}

/// One step of a random workload on a single tenant (so claim order does not depend on the
/// fair-share passes a restore resets).
#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        priority: usize,
        depends_on_last: bool,
        delay: bool,
        caps: bool,
    },
    Claim {
        capable: bool,
        max: usize,
    },
    Start(usize),
    Ack(usize),
    Fail {
        lease: usize,
        retryable: bool,
    },
    Release(usize),
    Cancel(usize),
    Advance(u64),
    Reap,
    ReplayAll,
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(priority, depends_on_last, delay, caps)| Op::Enqueue { priority, depends_on_last, delay, caps }),
        3 => (any::<bool>(), 1..4usize).prop_map(|(capable, max)| Op::Claim { capable, max }),
        1 => (0..8usize).prop_map(Op::Start),
        2 => (0..8usize).prop_map(Op::Ack),
        2 => (0..8usize, any::<bool>()).prop_map(|(lease, retryable)| Op::Fail { lease, retryable }),
        1 => (0..8usize).prop_map(Op::Release),
        1 => (0..16usize).prop_map(Op::Cancel),
        1 => (1..90u64).prop_map(Op::Advance),
        1 => Just(Op::Reap),
        1 => Just(Op::ReplayAll),
        1 => Just(Op::Purge),
    ]
}

async fn run(ops: Vec<Op>, write_every: usize) {
    let clock = ManualClock::default();
    let store = journaled(&clock);
    let mut disk = Disk::default();
    let acme = tenant("acme");
    let gpu = Capabilities::parse(["gpu"]).unwrap();
    let mut ids: Vec<TaskId> = Vec::new();
    let mut leases: Vec<LeaseToken> = Vec::new();
    for (n, op) in ops.into_iter().enumerate() {
        match op {
            Op::Enqueue {
                priority,
                depends_on_last,
                delay,
                caps,
            } => {
                let mut task = NewTask::new(acme.clone(), json!({ "n": n }))
                    .with_priority(Priority::ALL[priority])
                    .with_max_attempts(2);
                if let (true, Some(last)) = (depends_on_last, ids.last()) {
                    task = task.depends_on(*last);
                }
                if delay {
                    task = task.scheduled_at(clock.now() + Duration::from_secs(30));
                }
                if caps {
                    task = task.with_capabilities(gpu.clone());
                }
                if let Ok(done) = store.enqueue(task).await {
                    ids.push(done.id);
                }
            }
            Op::Claim { capable, max } => {
                let eligibility = if capable {
                    Eligibility::with_capabilities(gpu.clone())
                } else {
                    Eligibility::any()
                };
                let got = store.claim(&agent("a1"), &eligibility, max).await.unwrap();
                leases.extend(got.into_iter().map(|l| l.token));
            }
            Op::Start(i) => {
                if let Some(t) = leases.get(i) {
                    let _ = store.start(t).await;
                }
            }
            Op::Ack(i) => {
                if i < leases.len() {
                    let _ = store.ack(&leases.remove(i), None).await;
                }
            }
            Op::Fail { lease, retryable } => {
                if lease < leases.len() {
                    let failure = if retryable {
                        Failure::retryable("x")
                    } else {
                        Failure::permanent("x")
                    };
                    let _ = store.fail(&leases.remove(lease), failure).await;
                }
            }
            Op::Release(i) => {
                if i < leases.len() {
                    let _ = store.release(&leases.remove(i)).await;
                }
            }
            Op::Cancel(i) => {
                if let Some(id) = ids.get(i) {
                    let _ = store.cancel(*id, "test").await;
                }
            }
            Op::Advance(secs) => clock.advance(Duration::from_secs(secs)),
            Op::Reap => {
                store.reap_expired().await.unwrap();
            }
            Op::ReplayAll => {
                store
                    .replay_dead_letters(&Default::default())
                    .await
                    .unwrap();
            }
            Op::Purge => {
                store
                    .purge_finished(Duration::from_secs(120))
                    .await
                    .unwrap();
                store
                    .purge_dead_letters(Duration::from_secs(120))
                    .await
                    .unwrap();
            }
        }
        if n % write_every == 0 {
            disk.write(&store);
        }
    }
    disk.write(&store);

    let copy = restored(&disk, &clock);
    assert_eq!(everything(&copy).await, everything(&store).await);
    assert_eq!(copy.depth().await.unwrap(), store.depth().await.unwrap());
    assert_eq!(
        copy.load(&agent("a1")).await.unwrap(),
        store.load(&agent("a1")).await.unwrap()
    );
    // Both go on identically: expire every lease, then drain everything due.
    clock.advance(Duration::from_secs(3600));
    for s in [&store, &copy] {
        s.reap_expired().await.unwrap();
    }
    let eligibility = Eligibility::with_capabilities(gpu);
    loop {
        let a = store.claim(&agent("a2"), &eligibility, 1).await.unwrap();
        let b = copy.claim(&agent("a2"), &eligibility, 1).await.unwrap();
        let ids_a: Vec<_> = a.iter().map(|l| (l.task.id, l.token.fence)).collect();
        let ids_b: Vec<_> = b.iter().map(|l| (l.task.id, l.token.fence)).collect();
        assert_eq!(ids_a, ids_b);
        let Some(lease) = a.first() else { break };
        store.ack(&lease.token, None).await.unwrap();
        copy.ack(&b[0].token, None).await.unwrap();
    }
    assert_eq!(everything(&copy).await, everything(&store).await);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_restored_store_matches_and_continues_like_the_original(
        ops in proptest::collection::vec(op(), 1..80),
        write_every in 1..8usize,
    ) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run(ops, write_every));
    }
}
