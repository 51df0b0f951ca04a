//! How long a session may stay in each state before it times out.

use std::time::Duration;

use godel_types::SessionState;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::LifecycleError;

/// How long a session may stay in each state; `None` means it may stay forever. Written as
/// whole seconds (`null` for none); a missing field takes its default.
///
/// States not listed (`created` and the terminal ones) never time out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionTimeouts {
    /// Opening the gateway session (default 60 s).
    #[serde(with = "crate::serde_secs")]
    pub initializing: Duration,
    /// Idle, waiting for a run (default `None`: idle sessions live until closed).
    #[serde(with = "crate::serde_secs::option")]
    pub ready: Option<Duration>,
    /// Running (default `None`: a task's own timeout is enforced by the engine).
    #[serde(with = "crate::serde_secs::option")]
    pub running: Option<Duration>,
    /// Closing the gateway session after its work (default 60 s).
    #[serde(with = "crate::serde_secs")]
    pub completing: Duration,
    /// Held by an operator (default 24 h).
    #[serde(with = "crate::serde_secs::option")]
    pub paused: Option<Duration>,
    /// Moving to another agent or instance (default 5 min).
    #[serde(with = "crate::serde_secs")]
    pub migrating: Duration,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        Self {
            initializing: Duration::from_secs(60),
            ready: None,
            running: None,
            completing: Duration::from_secs(60),
            paused: Some(Duration::from_secs(24 * 60 * 60)),
            migrating: Duration::from_secs(5 * 60),
        }
    }
}

impl SessionTimeouts {
    /// How long a session may stay in `state`, if it may not stay forever.
    #[must_use]
    pub fn for_state(&self, state: SessionState) -> Option<Duration> {
        match state {
            SessionState::Initializing => Some(self.initializing),
            SessionState::Ready => self.ready,
            SessionState::Running => self.running,
            SessionState::Completing => Some(self.completing),
            SessionState::Paused => self.paused,
            SessionState::Migrating => Some(self.migrating),
            SessionState::Created
            | SessionState::Completed
            | SessionState::Failed
            | SessionState::Cancelled
            | SessionState::Timeout
            | SessionState::Error => None,
        }
    }

    /// When a session entering `state` at `now` times out. A deadline past the range of
    /// dates is no deadline.
    #[must_use]
    pub fn deadline(&self, state: SessionState, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let timeout = time::Duration::try_from(self.for_state(state)?).ok()?;
        now.checked_add(timeout)
    }

    /// Checks every timeout is positive (a zero timeout would expire a state on entry).
    ///
    /// # Errors
    /// [`LifecycleError::Invalid`] naming the first zero timeout.
    pub fn validate(&self) -> Result<(), LifecycleError> {
        let all = [
            ("session timeouts.initializing", Some(self.initializing)),
            ("session timeouts.ready", self.ready),
            ("session timeouts.running", self.running),
            ("session timeouts.completing", Some(self.completing)),
            ("session timeouts.paused", self.paused),
            ("session timeouts.migrating", Some(self.migrating)),
        ];
        match all.into_iter().find(|(_, t)| *t == Some(Duration::ZERO)) {
            Some((field, _)) => Err(LifecycleError::invalid(field, "must be positive")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn defaults_match_the_documented_values_and_are_valid() {
        let t = SessionTimeouts::default();
        assert_eq!(
            t.for_state(SessionState::Initializing),
            Some(Duration::from_secs(60))
        );
        assert_eq!(t.for_state(SessionState::Ready), None);
        assert_eq!(t.for_state(SessionState::Running), None);
        assert_eq!(
            t.for_state(SessionState::Paused),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            t.for_state(SessionState::Migrating),
            Some(Duration::from_secs(300))
        );
        assert_eq!(t.for_state(SessionState::Created), None);
        assert!(t.validate().is_ok());
    }

    #[test]
    fn serialises_as_seconds_and_fills_missing_fields_with_defaults() {
        let t = SessionTimeouts::default();
        let json = serde_json::to_value(&t).expect("serialise");
        assert_eq!(json["paused"], 86_400);
        assert!(json["ready"].is_null());
        let partial: SessionTimeouts =
            serde_json::from_str(r#"{"ready": 600}"#).expect("deserialise");
        assert_eq!(partial.ready, Some(Duration::from_secs(600)));
        assert_eq!(partial.migrating, t.migrating);
        assert!(serde_json::from_str::<SessionTimeouts>(r#"{"idle": 1}"#).is_err());
    }

    #[test]
    fn a_zero_timeout_is_invalid_and_named() {
        let t = SessionTimeouts {
            paused: Some(Duration::ZERO),
            ..SessionTimeouts::default()
        };
        let err = t.validate().expect_err("zero pause timeout");
        assert!(err.to_string().contains("timeouts.paused"), "{err}");
    }

    #[test]
    fn a_deadline_out_of_range_is_none() {
        let t = SessionTimeouts {
            paused: Some(Duration::from_secs(u64::MAX)),
            ..SessionTimeouts::default()
        };
        let now = datetime!(2026-01-01 0:00 UTC);
        assert_eq!(t.deadline(SessionState::Paused, now), None);
        assert_eq!(
            t.deadline(SessionState::Initializing, now),
            Some(datetime!(2026-01-01 0:01 UTC))
        );
    }
}
