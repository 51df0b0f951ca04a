//! In-memory [`ApiKeyStore`], [`AuditLog`] and [`RateLimiter`]: the reference behaviour the
//! store adapters match.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use godel_lifecycle::RepositoryError;
use godel_types::{ApiKeyId, AuditId, TenantId};
use time::OffsetDateTime;

use std::time::Duration;

use super::{ApiKeyRecord, ApiKeyStore, AuditEntry, AuditLog, RateDecision, RateLimiter};
use crate::EngineError;

/// API keys in a map, for tests and embedders without a database.
#[derive(Debug, Default)]
pub struct MemoryApiKeyStore {
    keys: Mutex<BTreeMap<ApiKeyId, ApiKeyRecord>>,
}

impl MemoryApiKeyStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ApiKeyId, ApiKeyRecord>> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl ApiKeyStore for MemoryApiKeyStore {
    async fn insert(&self, key: ApiKeyRecord) -> Result<(), RepositoryError> {
        let mut keys = self.lock();
        if keys.contains_key(&key.id) || keys.values().any(|k| k.hash == key.hash) {
            return Err(RepositoryError::already_exists("api key", key.id));
        }
        keys.insert(key.id, key);
        Ok(())
    }

    async fn find_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, RepositoryError> {
        Ok(self.lock().values().find(|k| &k.hash == hash).cloned())
    }

    async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKeyRecord>, RepositoryError> {
        let mut keys: Vec<_> = self
            .lock()
            .values()
            .filter(|k| tenant.is_none_or(|t| &k.tenant == t))
            .cloned()
            .collect();
        keys.sort_by_key(|k| (k.created_at, k.id));
        Ok(keys)
    }

    async fn revoke(
        &self,
        tenant: &TenantId,
        id: ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<ApiKeyRecord, RepositoryError> {
        let mut keys = self.lock();
        match keys.get_mut(&id) {
            Some(key) if &key.tenant == tenant => {
                key.revoked_at.get_or_insert(at);
                Ok(key.clone())
            }
            _ => Err(RepositoryError::not_found("api key", id)),
        }
    }

    async fn touch(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), RepositoryError> {
        if let Some(key) = self.lock().get_mut(&id) {
            key.last_used_at = Some(at);
        }
        Ok(())
    }
}

/// The audit log in a map, for tests and embedders without a database.
#[derive(Debug, Default)]
pub struct MemoryAuditLog {
    entries: Mutex<BTreeMap<AuditId, AuditEntry>>,
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn append(&self, entries: &[AuditEntry]) -> Result<(), RepositoryError> {
        let mut kept = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for entry in entries {
            kept.entry(entry.id).or_insert_with(|| entry.clone());
        }
        Ok(())
    }

    async fn list(
        &self,
        tenant: Option<&TenantId>,
        before: Option<AuditId>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, RepositoryError> {
        let kept = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(kept
            .values()
            .rev()
            .filter(|e| before.is_none_or(|b| e.id < b))
            .filter(|e| tenant.is_none_or(|t| e.tenant.as_ref() == Some(t)))
            .take(limit)
            .cloned()
            .collect())
    }
}

/// Token buckets in a map: the rate limiter of a single-replica server.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    buckets: Mutex<std::collections::HashMap<String, Bucket>>,
}

/// One bucket: tokens left as of `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: OffsetDateTime,
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(
        &self,
        key: &str,
        capacity: u32,
        per_second: f64,
        now: OffsetDateTime,
    ) -> Result<RateDecision, EngineError> {
        super::validate_bucket(capacity, per_second)?;
        let full = f64::from(capacity);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: full,
            at: now,
        });
        let elapsed = (now - bucket.at).as_seconds_f64().max(0.0);
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(full);
        bucket.at = bucket.at.max(now);
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let seconds = |tokens: f64| Duration::from_secs_f64((tokens.max(0.0)) / per_second);
        Ok(RateDecision {
            allowed,
            limit: capacity,
            // Whole tokens only; the float is within [0, capacity].
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            remaining: bucket.tokens.floor() as u32,
            reset: seconds(full - bucket.tokens),
            retry_after: if allowed {
                Duration::ZERO
            } else {
                seconds(1.0 - bucket.tokens)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bucket_refuses_once_empty_and_refills_with_time() {
        let limiter = MemoryRateLimiter::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for left in (0..3).rev() {
            let d = limiter.check("k", 3, 1.0, t0).await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let refused = limiter.check("k", 3, 1.0, t0).await.unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert_eq!(refused.reset, Duration::from_secs(3));
        let other = limiter.check("other", 3, 1.0, t0).await.unwrap();
        assert!(other.allowed, "buckets are per key");
        let later = limiter
            .check("k", 3, 1.0, t0 + Duration::from_secs(1))
            .await
            .unwrap();
        assert!(later.allowed);
    }

    #[tokio::test]
    async fn a_zero_capacity_or_rate_is_invalid() {
        let limiter = MemoryRateLimiter::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        assert!(limiter.check("k", 0, 1.0, t0).await.is_err());
        assert!(limiter.check("k", 1, 0.0, t0).await.is_err());
        assert!(limiter.check("k", 1, f64::NAN, t0).await.is_err());
    }
}
