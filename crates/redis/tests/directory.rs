//! The task directory (task id → tenant): a task is findable by id from the moment any
//! worker can claim it, and ids the store did not keep are not left behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use godel_queue::{
    AgentId, Eligibility, NewTask, QueueConfig, QueueError, QueueStore, SystemClock, TenantId,
};
use godel_redis::RedisQueueStore;
use godel_redis::testing::TestRedis;
use serde_json::json;

fn store(redis: &TestRedis) -> Arc<RedisQueueStore> {
    Arc::new(
        RedisQueueStore::new(
            redis.pool().clone(),
            redis.prefix(),
            QueueConfig::default(),
            Arc::new(SystemClock),
        )
        .unwrap(),
    )
}

fn task(tenant: &str, n: u32) -> NewTask {
    NewTask::new(TenantId::parse(tenant).unwrap(), json!({ "n": n }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_claimed_the_moment_it_is_enqueued_can_be_acked_by_its_token() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let store = store(&redis);
    let done = Arc::new(AtomicBool::new(false));
    let claimers: Vec<_> = (0..4)
        .map(|i| {
            let store = Arc::clone(&store);
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                let agent = AgentId::parse(&format!("w{i}")).unwrap();
                let mut acked = 0;
                let mut errors = Vec::new();
                while !done.load(Ordering::Acquire) {
                    for lease in store.claim(&agent, &Eligibility::any(), 1).await.unwrap() {
                        match store.ack(&lease.token, None).await {
                            Ok(()) => acked += 1,
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                }
                (acked, errors)
            })
        })
        .collect();
    for n in 0..300 {
        store.enqueue(task("acme", n)).await.unwrap();
    }
    while store.depth().await.unwrap().total() > 0 {
        tokio::task::yield_now().await;
    }
    done.store(true, Ordering::Release);
    let mut acked = 0;
    for claimer in claimers {
        let (n, errors) = claimer.await.unwrap();
        assert!(errors.is_empty(), "every ack found its task: {errors:?}");
        acked += n;
    }
    assert_eq!(acked, 300, "every task was acked once");
}

#[tokio::test]
async fn an_id_of_another_tenant_is_refused_and_the_batch_leaves_nothing_behind() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let store = store(&redis);
    let taken = store.enqueue(task("acme", 0)).await.unwrap().id;
    let fresh = task("globex", 1);
    let fresh_id = fresh.id;
    let mut clash = task("globex", 2);
    clash.id = taken;

    let refused = store.enqueue_batch(vec![fresh, clash]).await;

    assert!(matches!(refused, Err(QueueError::AlreadyExists(id)) if id == taken));
    assert!(matches!(
        store.get(fresh_id).await,
        Err(QueueError::NotFound(_))
    ));
    assert_eq!(store.get(taken).await.unwrap().tenant.as_str(), "acme");
    let retried = store.enqueue(task("globex", 3)).await.unwrap();
    assert_eq!(
        store.get(retried.id).await.unwrap().tenant.as_str(),
        "globex"
    );
}

#[tokio::test]
async fn an_idempotent_duplicate_answers_with_the_first_task_and_maps_no_new_id() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let store = store(&redis);
    let first = task("acme", 0).with_idempotency_key("k-1");
    let first_id = store.enqueue(first).await.unwrap().id;
    let again = task("acme", 1).with_idempotency_key("k-1");
    let again_id = again.id;

    let answer = store.enqueue(again).await.unwrap();

    assert!(answer.deduplicated);
    assert_eq!(answer.id, first_id);
    assert!(matches!(
        store.get(again_id).await,
        Err(QueueError::NotFound(_))
    ));
    let mapped: Option<String> = redis::cmd("HGET")
        .arg(format!("{}:{{#}}:where", redis.prefix()))
        .arg(again_id.to_string())
        .query_async(&mut redis.pool().get().await.unwrap())
        .await
        .unwrap();
    assert_eq!(mapped, None, "the unused id is not left in the directory");
}
