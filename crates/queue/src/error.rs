//! The queue's error type and the parse error of its validated values.

use std::error::Error as StdError;

use crate::ids::{TaskId, TenantId};
use crate::status::TaskStatus;

/// A value from outside (an id, a name, a priority) that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct ParseError {
    kind: &'static str,
    value: String,
    reason: String,
}

impl ParseError {
    /// An error for `value`, which was to be a `kind` (e.g. `"session id"`), failing for `reason`.
    /// Crates that define their own validated values report with it too, so all read alike.
    #[must_use]
    pub fn new(kind: &'static str, value: &str, reason: impl Into<String>) -> Self {
        let value = value.chars().take(64).collect();
        Self {
            kind,
            value,
            reason: reason.into(),
        }
    }

    /// What was being parsed, e.g. `"tenant id"`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

/// Why a lease token was refused. A refused holder must stop working on the task: another
/// attempt owns it now, or will.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseRefusal {
    /// The lease ran past its expiry without a heartbeat.
    Expired,
    /// The task was leased again since: the token belongs to an older attempt.
    Superseded,
    /// The task is not leased at all any more (finished, requeued or cancelled).
    NotLeased,
}

impl std::fmt::Display for LeaseRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Expired => "the lease expired",
            Self::Superseded => "the task was leased again since",
            Self::NotLeased => "the task is no longer leased",
        })
    }
}

/// Coarse classes of [`QueueError`], for callers that map errors to protocol codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The task does not exist (or belongs to another tenant).
    NotFound,
    /// The request conflicts with the current state (duplicate id, illegal transition).
    Conflict,
    /// The request itself is invalid.
    Invalid,
    /// A lease token from a stale holder.
    StaleLease,
    /// The tenant's queue is full: try later.
    QueueFull,
    /// The store could not be reached or failed; the operation may be retried.
    Unavailable,
}

/// Everything a [`QueueStore`](crate::QueueStore) operation can refuse or fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No task with this id.
    #[error("task {0} not found")]
    NotFound(TaskId),
    /// A task with this id already exists.
    #[error("task {0} already exists")]
    AlreadyExists(TaskId),
    /// A `depends_on` entry names no task of the same tenant.
    #[error("task {task} depends on {dependency}, which does not exist for its tenant")]
    UnknownDependency {
        /// The task being enqueued.
        task: TaskId,
        /// The missing dependency.
        dependency: TaskId,
    },
    /// `parent_id` names no task of the same tenant.
    #[error("task {task} names parent {parent}, which does not exist for its tenant")]
    UnknownParent {
        /// The task being enqueued.
        task: TaskId,
        /// The missing parent.
        parent: TaskId,
    },
    /// A field of the request is out of range or inconsistent.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The operation would move the task along an edge the status table does not have.
    #[error("task {task} cannot go from {from} to {to}")]
    IllegalTransition {
        /// The task.
        task: TaskId,
        /// Its current status.
        from: TaskStatus,
        /// The status the operation would have given it.
        to: TaskStatus,
    },
    /// The lease token is not the task's current, live lease.
    #[error("stale lease on task {task}: {reason}")]
    StaleLease {
        /// The task the token was for.
        task: TaskId,
        /// Why it was refused.
        reason: LeaseRefusal,
    },
    /// Replay was asked of a task that is not dead-lettered.
    #[error("task {task} is {status}, not dead_letter")]
    NotDeadLettered {
        /// The task.
        task: TaskId,
        /// Its current status.
        status: TaskStatus,
    },
    /// The tenant already has its maximum number of queued tasks.
    #[error("queue of tenant {tenant} is full ({limit} tasks queued)")]
    QueueFull {
        /// The tenant.
        tenant: TenantId,
        /// Its `max_queued`.
        limit: u64,
    },
    /// The store failed (I/O, driver, lost connection). Memory stores never return this.
    #[error("queue store unavailable: {message}")]
    Unavailable {
        /// What the store was doing.
        message: String,
        /// The underlying failure.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
}

impl QueueError {
    /// The coarse class of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::AlreadyExists(_)
            | Self::IllegalTransition { .. }
            | Self::NotDeadLettered { .. } => ErrorKind::Conflict,
            Self::UnknownDependency { .. } | Self::UnknownParent { .. } | Self::Invalid { .. } => {
                ErrorKind::Invalid
            }
            Self::StaleLease { .. } => ErrorKind::StaleLease,
            Self::QueueFull { .. } => ErrorKind::QueueFull,
            Self::Unavailable { .. } => ErrorKind::Unavailable,
        }
    }

    /// Whether the same call may succeed later without changing the request.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::QueueFull | ErrorKind::Unavailable)
    }

    /// An [`Unavailable`](Self::Unavailable) error wrapping a store's own failure.
    pub fn unavailable(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
