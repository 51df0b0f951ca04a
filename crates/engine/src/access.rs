//! Access records the API keeps durably: service-account API keys (only the SHA-256 of each
//! secret) and the security audit log (authentication and authorization failures, admin
//! actions). Two ports the store adapters implement, with in-memory versions for tests and
//! embedders. Hashing, key formats and the RBAC matrix belong to the HTTP adapter; these ports
//! only keep what it decides.

#[cfg(feature = "test-util")]
pub mod conformance;
mod memory;

use async_trait::async_trait;
use godel_lifecycle::RepositoryError;
use godel_types::{ApiKeyId, AuditId, Role, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use self::memory::{MemoryApiKeyStore, MemoryAuditLog, MemoryRateLimiter};

/// A stored API key. The secret itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Its id (what `DELETE /api-keys/{id}` names).
    pub id: ApiKeyId,
    /// The tenant every request made with it acts for.
    pub tenant: TenantId,
    /// A label chosen by the admin who created it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The first characters of the key (e.g. `dk_live_AbCd`), to tell keys apart.
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub hash: [u8; 32],
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last used to authenticate (updated at most about once a minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Revoked: the key no longer authenticates.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiKeyRecord {
    /// Whether the key still authenticates.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// Where API keys are kept.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key.
    ///
    /// # Errors
    /// [`RepositoryError::AlreadyExists`] when its id or hash is taken;
    /// [`RepositoryError::Unavailable`].
    async fn insert(&self, key: ApiKeyRecord) -> Result<(), RepositoryError>;

    /// The key whose SHA-256 is `hash`, revoked or not; `None` when there is none.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`].
    async fn find_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, RepositoryError>;

    /// The keys of `tenant` (every tenant's when `None`), oldest first, revoked ones included.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`].
    async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKeyRecord>, RepositoryError>;

    /// Revokes `tenant`'s key `id` at `at` and returns it; revoking twice keeps the first time.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`] when `tenant` has no such key;
    /// [`RepositoryError::Unavailable`].
    async fn revoke(
        &self,
        tenant: &TenantId,
        id: ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<ApiKeyRecord, RepositoryError>;

    /// Records that key `id` authenticated a request at `at`.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`]. An unknown id is not an error.
    async fn touch(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), RepositoryError>;
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// It was allowed and done.
    Success,
    /// The credential was missing or invalid (401).
    Unauthenticated,
    /// The credential was valid but its role may not do this (403).
    Forbidden,
    /// It was allowed but failed.
    Failure,
}

impl AuditOutcome {
    /// The outcome's name as it appears in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Failure => "failure",
        }
    }
}

/// One entry of the audit log (PRD SR-7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its id; time-ordered, so id order is the order entries were made in.
    pub id: AuditId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The tenant acted for; `None` when no credential was accepted.
    pub tenant: Option<TenantId>,
    /// Who: `key:<id>`, `jwt:<sub>`, or `anonymous`.
    pub actor: String,
    /// What, e.g. `api_key.create`, `task.cancel`, `auth.login`.
    pub action: String,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// What it acted on (a path or an id), if anything.
    pub target: Option<String>,
    /// The request's id, to find it in the logs.
    pub request_id: Option<String>,
    /// The client's address.
    pub remote_addr: Option<String>,
    /// Anything else worth keeping (never a secret).
    pub details: serde_json::Value,
}

/// Where audit entries are kept; append-only.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `entries`; appending an entry whose id is already kept is a no-op.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`].
    async fn append(&self, entries: &[AuditEntry]) -> Result<(), RepositoryError>;

    /// Up to `limit` entries of `tenant` (every tenant's, and those with no tenant, when `None`),
    /// newest first, older than `before` when given.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`].
    async fn list(
        &self,
        tenant: Option<&TenantId>,
        before: Option<AuditId>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, RepositoryError>;
}

/// The answer of a [`RateLimiter`]: whether one more request fits, and the numbers behind the
/// `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// The request may proceed (a token was taken).
    pub allowed: bool,
    /// The bucket's capacity (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Whole tokens left after this request (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Until the bucket is full again (`X-RateLimit-Reset`).
    pub reset: std::time::Duration,
    /// Until one token is available; zero when `allowed` (`Retry-After`).
    pub retry_after: std::time::Duration,
}

/// Token buckets by key (a credential, a tenant): the per-credential rate limits of the API.
/// In process by default ([`MemoryRateLimiter`]); shared by every replica through Redis.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes one token from `key`'s bucket of `capacity` tokens refilled at `per_second`.
    ///
    /// # Errors
    /// [`EngineError::Invalid`](crate::EngineError::Invalid) for a zero capacity or a
    /// non-positive rate; [`EngineError::Unavailable`](crate::EngineError::Unavailable) when
    /// the backing store fails.
    async fn check(
        &self,
        key: &str,
        capacity: u32,
        per_second: f64,
        now: OffsetDateTime,
    ) -> Result<RateDecision, crate::EngineError>;
}

/// Checks a bucket's shape, as every [`RateLimiter`] must before counting.
///
/// # Errors
/// [`EngineError::Invalid`](crate::EngineError::Invalid) for a zero capacity or a rate that is
/// not a positive number.
pub fn validate_bucket(capacity: u32, per_second: f64) -> Result<(), crate::EngineError> {
    if capacity == 0 {
        return Err(crate::EngineError::invalid(
            "capacity",
            "must be at least 1",
        ));
    }
    if !(per_second.is_finite() && per_second > 0.0) {
        return Err(crate::EngineError::invalid(
            "per_second",
            "must be a positive number",
        ));
    }
    Ok(())
}
