//! Purging more tasks than one purge script call looks at: every finished task goes, in
//! several short calls, and the directory forgets them all.

use std::sync::Arc;
use std::time::Duration;

use godel_queue::{
    AgentId, Eligibility, ErrorKind, ManualClock, NewTask, QueueConfig, QueueStore, TenantId,
};
use godel_redis::testing::TestRedis;
use serde_json::json;

#[tokio::test]
async fn purging_thousands_of_finished_tasks_takes_them_all() {
    let Some(redis) = TestRedis::create().await else {
        return; // no server, and live tests may skip
    };
    let clock = ManualClock::default();
    let store = redis.queue_store(QueueConfig::default(), Arc::new(clock.clone()));
    let tenant = TenantId::parse("acme").unwrap();
    let tasks: Vec<NewTask> = (0..1_234)
        .map(|n| NewTask::new(tenant.clone(), json!({ "n": n })))
        .collect();
    store.enqueue_batch(tasks).await.unwrap();
    let agent = AgentId::parse("a1").unwrap();
    let leases = store
        .claim(&agent, &Eligibility::any(), 2_000)
        .await
        .unwrap();
    assert_eq!(leases.len(), 1_234);
    for lease in &leases {
        store.ack(&lease.token, None).await.unwrap();
    }
    clock.advance(Duration::from_secs(1));

    assert_eq!(store.purge_finished(Duration::ZERO).await.unwrap(), 1_234);
    assert_eq!(store.purge_finished(Duration::ZERO).await.unwrap(), 0);
    let gone = store.get(leases[700].task.id).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
}
