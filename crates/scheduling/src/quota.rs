//! [`TenantQuota`]: a tenant's weight in the shared pool and its hard limits, and the check
//! whether it may start one more task.

use serde::{Deserialize, Serialize};

use crate::backpressure::{TaskAdmission, admit_task};
use crate::error::SchedulingError;

/// A tenant's share of the pool and its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantQuota {
    /// Relative share of the pool when tenants compete (default 1, at least 1); see
    /// [`fair_shares`](crate::fair_shares).
    pub weight: u32,
    /// Most tasks the tenant may run at once. `None`: bounded only by its fair share.
    pub max_running: Option<u32>,
    /// Most tasks the tenant may have queued; submissions beyond it are refused. `None`:
    /// unbounded.
    pub max_queued: Option<u64>,
}

impl Default for TenantQuota {
    fn default() -> Self {
        Self {
            weight: 1,
            max_running: None,
            max_queued: None,
        }
    }
}

impl TenantQuota {
    /// Checks the ranges.
    ///
    /// # Errors
    /// [`SchedulingError::Invalid`] when the weight is 0.
    pub fn validate(&self) -> Result<(), SchedulingError> {
        if self.weight == 0 {
            return Err(SchedulingError::Invalid {
                field: "weight",
                reason: "must be at least 1",
            });
        }
        Ok(())
    }

    /// Whether the tenant, running `running` tasks now, may start one more.
    #[must_use]
    pub fn check_start(&self, running: u32) -> QuotaCheck {
        check_start(running, self)
    }

    /// Whether the tenant, with `queued` tasks waiting, may submit one more.
    #[must_use]
    pub fn admit_task(&self, queued: u64) -> TaskAdmission {
        admit_task(queued, self.max_queued)
    }
}

/// Whether a tenant may start one more task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaCheck {
    /// It may.
    Allowed,
    /// It already runs as many tasks as its quota allows.
    AtMaxRunning {
        /// Tasks it runs now.
        running: u32,
        /// Its `max_running`.
        max: u32,
    },
}

impl QuotaCheck {
    /// Whether the start is allowed.
    #[must_use]
    pub fn is_allowed(self) -> bool {
        self == Self::Allowed
    }
}

/// Whether a tenant running `running` tasks may start one more under `quota`: yes unless that
/// would exceed `max_running`.
#[must_use]
pub fn check_start(running: u32, quota: &TenantQuota) -> QuotaCheck {
    match quota.max_running {
        Some(max) if running >= max => QuotaCheck::AtMaxRunning { running, max },
        _ => QuotaCheck::Allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_may_start_tasks_up_to_its_max_running() {
        let quota = TenantQuota {
            max_running: Some(2),
            ..TenantQuota::default()
        };
        assert!(quota.check_start(0).is_allowed());
        assert!(quota.check_start(1).is_allowed());
        assert_eq!(
            quota.check_start(2),
            QuotaCheck::AtMaxRunning { running: 2, max: 2 }
        );
        assert!(
            !check_start(5, &quota).is_allowed(),
            "over the limit after a lowered quota"
        );
    }

    #[test]
    fn without_max_running_every_start_is_allowed() {
        assert!(TenantQuota::default().check_start(u32::MAX).is_allowed());
    }

    #[test]
    fn a_zero_max_running_pauses_the_tenant() {
        let paused = TenantQuota {
            max_running: Some(0),
            ..TenantQuota::default()
        };
        assert!(!paused.check_start(0).is_allowed());
    }

    #[test]
    fn the_default_quota_has_weight_one_and_no_limits_and_zero_weight_is_invalid() {
        let quota = TenantQuota::default();
        assert_eq!(
            (quota.weight, quota.max_running, quota.max_queued),
            (1, None, None)
        );
        assert!(quota.validate().is_ok());
        let err = TenantQuota { weight: 0, ..quota }.validate().unwrap_err();
        assert!(err.to_string().contains("weight"), "{err}");
    }

    #[test]
    fn submissions_stop_at_max_queued() {
        let quota = TenantQuota {
            max_queued: Some(3),
            ..TenantQuota::default()
        };
        assert!(quota.admit_task(2).is_admitted());
        assert!(!quota.admit_task(3).is_admitted());
    }
}
