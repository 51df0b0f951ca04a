//! Task statuses and the table of legal transitions between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// Where a task is in its life. See DESIGN §3 for the meaning of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Due and waiting to be claimed.
    Pending,
    /// Waiting for the tasks it depends on to complete.
    Blocked,
    /// Waiting for its `scheduled_at` time.
    Scheduled,
    /// Claimed by an agent under a lease, not yet started.
    Assigned,
    /// Started on a gateway by the lease holder.
    Running,
    /// Finished successfully (terminal).
    Completed,
    /// Failed an attempt and waits for its retry time.
    Failed,
    /// Cancelled by a caller or because a dependency will never complete (terminal).
    Cancelled,
    /// Failed for good: out of attempts or not retryable. Can be replayed.
    DeadLetter,
}

impl TaskStatus {
    /// Every status, in declaration order.
    pub const ALL: [Self; 9] = [
        Self::Pending,
        Self::Blocked,
        Self::Scheduled,
        Self::Assigned,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::DeadLetter,
    ];

    /// Whether the task has ended and will never move again.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Whether an agent holds a lease on the task.
    #[must_use]
    pub const fn is_leased(self) -> bool {
        matches!(self, Self::Assigned | Self::Running)
    }

    /// Whether the task waits in the queue (due or not) and counts against the tenant's queue size.
    #[must_use]
    pub const fn is_queued(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Blocked | Self::Scheduled | Self::Failed
        )
    }

    /// The legal transitions, in one place: every store moves tasks only along these edges.
    #[must_use]
    pub const fn can_transition_to(self, to: Self) -> bool {
        use TaskStatus::{
            Assigned, Blocked, Cancelled, Completed, DeadLetter, Failed, Pending, Running,
            Scheduled,
        };
        matches!(
            (self, to),
            (Pending, Assigned | Cancelled)
                | (Blocked, Pending | Scheduled | Cancelled)
                | (Scheduled, Pending | Cancelled)
                | (Assigned, Running)
                | (
                    Assigned | Running,
                    Completed | Failed | DeadLetter | Cancelled | Pending
                )
                | (Failed, Pending | Cancelled)
                | (DeadLetter, Pending | Cancelled)
        )
    }

    /// The snake_case name used in JSON, SQL and Redis keys.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Blocked => "blocked",
            Self::Scheduled => "scheduled",
            Self::Assigned => "assigned",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::DeadLetter => "dead_letter",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| ParseError::new("status", s, "not a task status"))
    }
}

#[cfg(test)]
mod tests {
    use super::TaskStatus::*;
    use super::*;

    #[test]
    fn terminal_statuses_have_no_way_out() {
        for from in [Completed, Cancelled] {
            for to in TaskStatus::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn only_a_claim_leaves_pending_for_a_lease() {
        let into_assigned: Vec<_> = TaskStatus::ALL
            .into_iter()
            .filter(|s| s.can_transition_to(Assigned))
            .collect();
        assert_eq!(into_assigned, vec![Pending]);
    }

    #[test]
    fn waiting_tasks_cannot_complete_without_a_lease() {
        for from in [Pending, Blocked, Scheduled, Failed, DeadLetter] {
            assert!(!from.can_transition_to(Completed), "{from}");
        }
    }

    #[test]
    fn dead_letters_can_be_replayed_or_discarded() {
        assert!(DeadLetter.can_transition_to(Pending));
        assert!(DeadLetter.can_transition_to(Cancelled));
        assert!(!DeadLetter.can_transition_to(Assigned));
    }

    #[test]
    fn names_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
