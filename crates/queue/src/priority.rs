//! The four priority levels and their strict order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// How urgent a task is. Claims serve every waiting `Critical` task an agent can run before any
/// `High` one, and so on down (strict priority, PRD FR-1).
///
/// `Ord` follows urgency: `Critical > High > Medium > Low`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Served last.
    Low,
    /// The default for a task that names no priority and has no parent.
    #[default]
    Medium,
    /// Served after `Critical`.
    High,
    /// Served first.
    Critical,
}

impl Priority {
    /// Every level, most urgent first: the order in which claims look for work.
    pub const ALL: [Self; 4] = [Self::Critical, Self::High, Self::Medium, Self::Low];

    /// Position in [`Priority::ALL`]: 0 for `Critical` up to 3 for `Low`.
    #[must_use]
    pub const fn rank(self) -> usize {
        match self {
            Self::Critical => 0,
            Self::High => 1,
            Self::Medium => 2,
            Self::Low => 3,
        }
    }

    /// The next more urgent level, or `None` at `Critical` (used by aging).
    #[must_use]
    pub const fn raised(self) -> Option<Self> {
        match self {
            Self::Low => Some(Self::Medium),
            Self::Medium => Some(Self::High),
            Self::High => Some(Self::Critical),
            Self::Critical => None,
        }
    }

    /// The lowercase name used in JSON, SQL and Redis keys.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ParseError::new("priority", s, "expected critical, high, medium or low"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_outranks_every_other_level() {
        assert!(Priority::Critical > Priority::High);
        assert!(Priority::High > Priority::Medium);
        assert!(Priority::Medium > Priority::Low);
        assert_eq!(Priority::ALL.map(Priority::rank), [0, 1, 2, 3]);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        let err = "urgent".parse::<Priority>().unwrap_err();
        assert!(err.to_string().contains("urgent"), "{err}");
    }

    #[test]
    fn aging_raises_one_level_at_a_time_and_stops_at_critical() {
        assert_eq!(Priority::Low.raised(), Some(Priority::Medium));
        assert_eq!(Priority::Critical.raised(), None);
    }
}
