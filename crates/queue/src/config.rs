//! Store-wide settings, per-tenant policies and limits by key.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::QueueError;
use crate::priority::Priority;
use crate::retry::RetryPolicy;

/// Settings every store applies the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueConfig {
    /// How long a claim or heartbeat keeps a lease alive (default 30 s).
    #[serde(with = "crate::serde_duration")]
    pub lease_ttl: Duration,
    /// Retry and dead-letter policy for tasks that name no `max_attempts` of their own.
    pub retry: RetryPolicy,
    /// Priority of a task that names none and has no parent (default medium).
    pub default_priority: Priority,
    /// When set, a waiting task is raised one priority level per interval waited (off by
    /// default: strict priority).
    #[serde(with = "crate::serde_duration::option")]
    pub aging_after: Option<Duration>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            default_priority: Priority::Medium,
            aging_after: None,
        }
    }
}

impl QueueConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), QueueError> {
        if self.lease_ttl.is_zero() {
            return Err(QueueError::invalid("lease_ttl", "must be positive"));
        }
        if self.aging_after.is_some_and(|d| d.is_zero()) {
            return Err(QueueError::invalid(
                "aging_after",
                "must be positive when set",
            ));
        }
        self.retry.validate()
    }
}

/// How a tenant shares the queue with others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantPolicy {
    /// Share of claims within one priority level relative to other tenants (default 1; at
    /// least 1, at most 1,000,000).
    pub weight: u32,
    /// Most tasks the tenant may have queued (pending, blocked, scheduled or awaiting retry);
    /// enqueues beyond it fail with [`QueueError::QueueFull`]. `None`: unbounded.
    pub max_queued: Option<u64>,
}

impl Default for TenantPolicy {
    fn default() -> Self {
        Self {
            weight: 1,
            max_queued: None,
        }
    }
}

/// Largest tenant weight.
pub const MAX_WEIGHT: u32 = 1_000_000;

impl TenantPolicy {
    /// Checks the weight range.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] when the weight is 0 or above [`MAX_WEIGHT`].
    pub fn validate(&self) -> Result<(), QueueError> {
        if !(1..=MAX_WEIGHT).contains(&self.weight) {
            return Err(QueueError::invalid(
                "weight",
                "must be between 1 and 1000000",
            ));
        }
        Ok(())
    }
}

/// Limits counted under one [`LimitKey`](crate::LimitKey): concurrency and start rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Limit {
    /// Most tasks leased at once under the key. `None`: unbounded.
    pub max_running: Option<u32>,
    /// Token bucket on claims under the key. `None`: unbounded.
    pub rate: Option<Rate>,
}

/// A token bucket: `burst` tokens at most, refilled at `per_second`; each claim takes one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Tokens added per second (> 0).
    pub per_second: f64,
    /// Bucket size (>= 1); the bucket starts full.
    pub burst: u32,
}

impl Limit {
    /// Checks the rate's ranges.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] when the rate is not positive or the burst is 0.
    pub fn validate(&self) -> Result<(), QueueError> {
        if let Some(rate) = self.rate {
            if !(rate.per_second.is_finite() && rate.per_second > 0.0) {
                return Err(QueueError::invalid(
                    "rate.per_second",
                    "must be a positive number",
                ));
            }
            if rate.burst == 0 {
                return Err(QueueError::invalid("rate.burst", "must be at least 1"));
            }
        }
        Ok(())
    }
}
