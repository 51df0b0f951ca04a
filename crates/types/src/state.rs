//! The names of the states sessions, agents and instances can be in. The rules for moving
//! between them live in `godel-lifecycle` (sessions, agents) and `godel-federation` (instances).

use std::fmt;
use std::str::FromStr;

use godel_queue::ParseError;
use serde::{Deserialize, Serialize};

/// Declares a snake_case state enum with `ALL`, `as_str`, `Display` and `FromStr`.
macro_rules! state_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every state, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            /// The state's name as it appears in JSON and in the API.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| ParseError::new($kind, s, concat!("expected one of: ", $($text, " "),+).trim_end()))
            }
        }
    };
}

state_enum!(
    /// Where a session is in its life (PRD FR-2, plus pause and migration of US-020/US-027).
    SessionState, "session state" {
        /// Recorded, nothing asked of the gateway yet.
        Created => "created",
        /// The gateway session is being opened.
        Initializing => "initializing",
        /// Open and idle: a run may start.
        Ready => "ready",
        /// A run is in progress.
        Running => "running",
        /// Held by an operator: no new run starts until resumed.
        Paused => "paused",
        /// Being moved to another agent or instance from its last checkpoint.
        Migrating => "migrating",
        /// Its work is done; the gateway session is being closed.
        Completing => "completing",
        /// Closed after finishing its work (terminal).
        Completed => "completed",
        /// Ended by a failure of its work (terminal).
        Failed => "failed",
        /// Ended by an operator or a cancelled task (terminal).
        Cancelled => "cancelled",
        /// Ended because a state lasted past its deadline (terminal).
        Timeout => "timeout",
        /// Ended by an infrastructure error: gateway lost, protocol failure (terminal).
        Error => "error",
    }
);

impl SessionState {
    /// Whether no transition leaves this state.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::Timeout | Self::Error
        )
    }
}

state_enum!(
    /// What an agent is doing.
    AgentStatus, "agent status" {
        /// Connected with free capacity and no task.
        Idle => "idle",
        /// Running at least one task.
        Busy => "busy",
        /// Not reachable (its instance is down or it was deregistered).
        Offline => "offline",
        /// Reachable but failing; takes no work until it recovers.
        Error => "error",
    }
);

state_enum!(
    /// How an instance (gateway) is doing, from its health probes.
    InstanceHealth, "instance health" {
        /// Registered, not probed yet: takes no work.
        Unknown => "unknown",
        /// Answering probes: takes work.
        Healthy => "healthy",
        /// Missed some probes or reported a degraded event loop: takes no new sessions.
        Degraded => "degraded",
        /// Missed enough probes to be considered down: its work fails over.
        Unhealthy => "unhealthy",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_from_their_names_and_serialize_as_them() {
        for s in SessionState::ALL {
            assert_eq!(s.as_str().parse::<SessionState>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in AgentStatus::ALL {
            assert_eq!(s.as_str().parse::<AgentStatus>().unwrap(), *s);
        }
        for s in InstanceHealth::ALL {
            assert_eq!(s.as_str().parse::<InstanceHealth>().unwrap(), *s);
        }
    }

    #[test]
    fn an_unknown_state_is_an_error_listing_the_valid_ones() {
        let err = "sleeping".parse::<SessionState>().unwrap_err();
        assert!(err.to_string().contains("paused"), "{err}");
    }

    #[test]
    fn exactly_five_session_states_are_terminal() {
        let terminal: Vec<_> = SessionState::ALL
            .iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal.len(), 5);
        assert!(!SessionState::Paused.is_terminal());
    }
}

state_enum!(
    /// What a credential may do (PRD 8.2). Declared from least to most privileged, so `Ord`
    /// answers "at least": a role may do what any role below it may.
    Role, "role" {
        /// Read tasks, queue, agents, sessions, instances and teams.
        Viewer => "viewer",
        /// A viewer who may also submit tasks.
        Developer => "developer",
        /// A developer who may also cancel, retry, replay and drive sessions.
        Operator => "operator",
        /// Everything, including agents, instances, API keys and the audit log.
        Admin => "admin",
    }
);
