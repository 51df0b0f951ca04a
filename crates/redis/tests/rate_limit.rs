//! The token bucket: a burst up to capacity, then refusals with a retry time, refilled by time.

use std::sync::Arc;
use std::time::Duration;

use godel_redis::testing::TestRedis;
use godel_redis::{RateDecision, RateLimiter};
use time::macros::datetime;

#[tokio::test]
async fn a_bucket_allows_its_capacity_then_refuses_until_refilled() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let limiter = RateLimiter::new(redis.pool().clone(), redis.prefix());
    let t0 = datetime!(2026-01-01 00:00:00 UTC);
    for left in (0..3).rev() {
        let d = limiter.check("cred-1", 3, 1.0, t0).await.unwrap();
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining), (3, left));
    }
    let refused = limiter.check("cred-1", 3, 1.0, t0).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after, Duration::from_secs(1));
    assert_eq!(refused.reset, Duration::from_secs(3));

    let other = limiter.check("cred-2", 3, 1.0, t0).await.unwrap();
    assert!(other.allowed, "buckets are per key");

    let later = limiter
        .check("cred-1", 3, 1.0, t0 + Duration::from_secs(1))
        .await
        .unwrap();
    assert!(later.allowed, "one token refilled after a second");
    assert_eq!(later.remaining, 0);
}

#[tokio::test]
async fn a_zero_capacity_is_invalid() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let limiter = RateLimiter::new(redis.pool().clone(), redis.prefix());
    let now = datetime!(2026-01-01 00:00:00 UTC);
    assert!(limiter.check("k", 0, 1.0, now).await.is_err());
    assert!(limiter.check("k", 1, 0.0, now).await.is_err());
}

/// Through the engine's port, as the HTTP layer holds it (`Arc<dyn RateLimiter>`): the same
/// buckets, the same decisions, and a refusal carries the time until a token is back.
#[tokio::test]
async fn the_engine_port_drives_the_same_buckets() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let limiter: Arc<dyn godel_engine::access::RateLimiter> =
        Arc::new(RateLimiter::new(redis.pool().clone(), redis.prefix()));
    let t0 = datetime!(2026-01-01 00:00:00 UTC);
    let first = limiter.check("cred-1", 2, 0.5, t0).await.unwrap();
    assert_eq!(
        first,
        RateDecision {
            allowed: true,
            limit: 2,
            remaining: 1,
            reset: Duration::from_secs(2),
            retry_after: Duration::ZERO,
        }
    );
    assert!(limiter.check("cred-1", 2, 0.5, t0).await.unwrap().allowed);
    let refused = limiter.check("cred-1", 2, 0.5, t0).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after, Duration::from_secs(2));

    let direct = RateLimiter::new(redis.pool().clone(), redis.prefix());
    let shared = direct.check("cred-1", 2, 0.5, t0).await.unwrap();
    assert!(!shared.allowed, "the inherent method sees the same bucket");

    let invalid = limiter.check("cred-1", 0, 1.0, t0).await.unwrap_err();
    assert_eq!(invalid.kind(), godel_engine::ErrorKind::Invalid);
}
