//! The leader lease: one holder at a time, a growing token per term, handover on release and
//! on expiry.

use std::time::Duration;

use godel_engine::LeaderLease;
use godel_redis::RedisLeaderLease;
use godel_redis::testing::TestRedis;

const LONG: Duration = Duration::from_secs(30);

#[tokio::test]
async fn only_one_replica_leads_and_renewal_keeps_the_token() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let lease = RedisLeaderLease::new(redis.pool().clone(), redis.prefix(), "duties");
    let first = lease
        .acquire("r1", LONG)
        .await
        .unwrap()
        .expect("a free lease is taken");
    assert_eq!(lease.acquire("r2", LONG).await.unwrap(), None, "r1 leads");
    assert_eq!(
        lease.acquire("r1", LONG).await.unwrap(),
        Some(first),
        "renewal keeps the term"
    );
    lease.release("r2").await.unwrap();
    assert_eq!(
        lease.acquire("r2", LONG).await.unwrap(),
        None,
        "only the holder releases"
    );
}

#[tokio::test]
async fn release_hands_over_with_a_greater_token() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let lease = RedisLeaderLease::new(redis.pool().clone(), redis.prefix(), "duties");
    let first = lease.acquire("r1", LONG).await.unwrap().unwrap();
    lease.release("r1").await.unwrap();
    let second = lease
        .acquire("r2", LONG)
        .await
        .unwrap()
        .expect("released lease is free");
    assert!(second > first, "a new term has a greater token");
    assert_eq!(lease.acquire("r1", LONG).await.unwrap(), None);
}

#[tokio::test]
async fn an_expired_lease_lets_another_replica_take_over() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let lease = RedisLeaderLease::new(redis.pool().clone(), redis.prefix(), "duties");
    let first = lease
        .acquire("r1", Duration::from_millis(50))
        .await
        .unwrap()
        .unwrap();
    let mut second = None;
    for _ in 0..200 {
        second = lease.acquire("r2", LONG).await.unwrap();
        if second.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = second.expect("r2 takes over once r1's lease expired");
    assert!(second > first);
    assert_eq!(
        lease.acquire("r1", LONG).await.unwrap(),
        None,
        "r1 lost the lease"
    );
}
