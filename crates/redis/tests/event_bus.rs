//! Two buses on one prefix are two replicas: an event published on either reaches the
//! subscribers of both, exactly once.

use std::time::Duration;

use godel_engine::EventBus;
use godel_redis::RedisEventBus;
use godel_redis::testing::TestRedis;
use godel_types::{
    Event, EventBody, Priority, TaskEvent, TaskEventKind, TaskId, TaskStatus, TenantId,
};
use time::macros::datetime;
use tokio::sync::broadcast::Receiver;

fn completed(n: u128) -> Event {
    let data = TaskEvent::new(
        TaskId::from_u128(n),
        TaskStatus::Completed,
        Priority::High,
        0,
    );
    Event::new(
        Some(TenantId::parse("acme").unwrap()),
        datetime!(2026-01-01 00:00:00 UTC),
        EventBody::Task(TaskEventKind::Completed, data),
    )
}

async fn next(rx: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event within 5 s")
        .expect("the bus is open")
}

#[tokio::test]
async fn every_replica_receives_every_event_once() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let one = RedisEventBus::connect(redis.url(), redis.prefix(), 64)
        .await
        .unwrap();
    let two = RedisEventBus::connect(redis.url(), redis.prefix(), 64)
        .await
        .unwrap();
    let (mut on_one, mut on_two) = (one.subscribe(), two.subscribe());

    let (a, b) = (completed(1), completed(2));
    one.publish(a.clone());
    two.publish(b.clone());

    for rx in [&mut on_one, &mut on_two] {
        let mut got = vec![next(rx).await, next(rx).await];
        got.sort_by_key(|e| e.task_id());
        assert_eq!(got, vec![a.clone(), b.clone()]);
    }
    // A marker published last arrives next: nothing was delivered twice in between.
    let marker = completed(3);
    one.publish(marker.clone());
    assert_eq!(next(&mut on_one).await, marker);
    assert_eq!(next(&mut on_two).await, marker);
}

#[tokio::test]
async fn buses_on_other_prefixes_do_not_hear_each_other() {
    let (Some(r1), Some(r2)) = (TestRedis::create().await, TestRedis::create().await) else {
        return;
    };
    let one = RedisEventBus::connect(r1.url(), r1.prefix(), 8)
        .await
        .unwrap();
    let other = RedisEventBus::connect(r2.url(), r2.prefix(), 8)
        .await
        .unwrap();
    let mut on_other = other.subscribe();
    let mut on_one = one.subscribe();
    let own = completed(1);
    one.publish(own.clone());
    assert_eq!(next(&mut on_one).await, own);
    let marker = completed(9);
    other.publish(marker.clone());
    assert_eq!(
        next(&mut on_other).await,
        marker,
        "the other prefix saw only its own event"
    );
}
