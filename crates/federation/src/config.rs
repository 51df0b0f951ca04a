//! [`FederationConfig`]: the federation settings in one place, for the root `Settings`.

use serde::{Deserialize, Serialize};

use crate::autoscale::AutoscaleConfig;
use crate::breaker::BreakerConfig;
use crate::error::FederationError;
use crate::health::HealthConfig;

/// Health probing, circuit breaking and autoscaling settings (each with its defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FederationConfig {
    /// How instances are probed and judged.
    pub health: HealthConfig,
    /// The per-instance circuit breaker.
    pub breaker: BreakerConfig,
    /// The autoscaling policy.
    pub autoscale: AutoscaleConfig,
}

impl FederationConfig {
    /// Checks every section.
    ///
    /// # Errors
    /// [`FederationError::Invalid`] naming the first field out of range (the field name of its
    /// section, e.g. `probe_interval`).
    pub fn validate(&self) -> Result<(), FederationError> {
        self.health.validate()?;
        self.breaker.validate()?;
        self.autoscale.validate()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn defaults_are_valid_and_sections_may_be_left_out() {
        assert!(FederationConfig::default().validate().is_ok());
        let c: FederationConfig =
            serde_json::from_str(r#"{"breaker": {"failure_threshold": 2}}"#).unwrap();
        assert_eq!(c.breaker.failure_threshold, 2);
        assert_eq!(c.breaker.reset_timeout, Duration::from_secs(30));
        assert_eq!(c.health, HealthConfig::default());
    }

    #[test]
    fn an_invalid_section_fails_validation() {
        let c = FederationConfig {
            autoscale: AutoscaleConfig {
                max_instances: 0,
                ..AutoscaleConfig::default()
            },
            ..FederationConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("max_instances")
        );
    }
}
