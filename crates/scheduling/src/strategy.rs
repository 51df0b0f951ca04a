//! [`Strategy`]: the routing strategies a [`Router`](crate::Router) chains.

use std::fmt;
use std::str::FromStr;

use godel_types::ParseError;
use serde::{Deserialize, Serialize};

/// One routing strategy. A strategy either **picks** one agent, **narrows** the candidates for
/// the next strategy in the chain, or **falls through** when it cannot apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Picks: rotates over the candidates sorted by agent id, starting after the agent it picked
    /// last.
    RoundRobin,
    /// Picks: the lowest utilisation (`load / capacity`), then the most free slots, then the
    /// smallest agent id.
    LeastLoaded,
    /// Picks: the agent with the fewest capabilities beyond those required, so specialists stay
    /// free for the work only they can do; ties as [`LeastLoaded`](Self::LeastLoaded).
    CapabilityMatch,
    /// Picks the request's affinity agent when it is a candidate; falls through otherwise.
    SessionAffinity,
    /// Narrows to the candidates in the preferred zone if there are any, else to those in the
    /// preferred region if there are any; falls through otherwise. Never picks by itself.
    GeoAware,
}

impl Strategy {
    /// Every strategy, in declaration order.
    pub const ALL: &[Self] = &[
        Self::RoundRobin,
        Self::LeastLoaded,
        Self::CapabilityMatch,
        Self::SessionAffinity,
        Self::GeoAware,
    ];

    /// The strategy's name in configuration, JSON and the API (e.g. `least-loaded`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "round-robin",
            Self::LeastLoaded => "least-loaded",
            Self::CapabilityMatch => "capability-match",
            Self::SessionAffinity => "session-affinity",
            Self::GeoAware => "geo-aware",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                ParseError::new(
                    "routing strategy",
                    s,
                    "expected one of: round-robin, least-loaded, capability-match, \
                     session-affinity, geo-aware",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text() {
        for &s in Strategy::ALL {
            assert_eq!(s.to_string().parse::<Strategy>().unwrap(), s);
        }
        assert_eq!("geo-aware".parse::<Strategy>().unwrap(), Strategy::GeoAware);
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_valid_ones_listed() {
        let err = "fastest".parse::<Strategy>().unwrap_err();
        assert_eq!(err.kind(), "routing strategy");
        assert!(err.to_string().contains("least-loaded"), "{err}");
        assert!("LeastLoaded".parse::<Strategy>().is_err());
    }

    #[test]
    fn serde_uses_the_same_kebab_case_names() {
        for &s in Strategy::ALL {
            let text =
                serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s.as_str());
            assert_eq!(Strategy::deserialize(text).unwrap(), s);
        }
    }
}
