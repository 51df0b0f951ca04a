//! The `QueueStore` port: every operation a queue backend performs atomically.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::{Limit, TenantPolicy};
use crate::error::QueueError;
use crate::ids::{AgentId, LimitKey, TaskId, TenantId};
use crate::lease::{Eligibility, Heartbeat, Lease, LeaseToken};
use crate::priority::Priority;
use crate::status::TaskStatus;
use crate::task::{Failure, NewTask, Payload, TaskRecord};

/// A queue backend. Each method is one atomic step: a SQL store runs it in one transaction, a
/// Redis store in one script, the memory store under one lock. All stores pass the same
/// conformance suite (`godel_queue::queue_conformance!`, feature `test-util`), so they are
/// interchangeable.
///
/// Time is read from the store's [`Clock`](crate::Clock): a scheduled task or a task awaiting
/// its retry becomes due when the clock passes its `due_at`, and [`claim`](Self::claim) and
/// [`depth`](Self::depth) see it as due from then on, promoted or not. Expired leases are
/// recovered only by [`reap_expired`](Self::reap_expired), but a holder's token stops working
/// the moment its lease expires.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Enqueues one task. See [`enqueue_batch`](Self::enqueue_batch) for the rules.
    ///
    /// # Errors
    /// As [`enqueue_batch`](Self::enqueue_batch).
    async fn enqueue(&self, task: NewTask) -> Result<Enqueued, QueueError> {
        let mut out = self.enqueue_batch(vec![task]).await?;
        out.pop()
            .ok_or_else(|| QueueError::invalid("batch", "store returned no result"))
    }

    /// Enqueues tasks all or none, in order; a task may depend on, or name as parent, an
    /// earlier task of the same batch. Each task starts `blocked` if a dependency has not
    /// completed, else `scheduled` if `scheduled_at` is in the future, else `pending`; it is
    /// `cancelled` at once if a dependency is already cancelled or dead-lettered. A task whose
    /// tenant already holds its idempotency key is not created: the existing task is returned
    /// with `deduplicated: true`.
    ///
    /// # Errors
    /// - [`QueueError::AlreadyExists`] when the id is taken (without a matching idempotency key);
    /// - [`QueueError::UnknownDependency`] / [`QueueError::UnknownParent`] when a named task does
    ///   not exist for the tenant (a task of another tenant counts as missing);
    /// - [`QueueError::Invalid`] for `max_attempts` 0, a self-dependency, an empty or over-long
    ///   idempotency key, or an empty batch;
    /// - [`QueueError::QueueFull`] when the tenant would exceed its `max_queued`.
    async fn enqueue_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>, QueueError>;

    /// The task with this id.
    ///
    /// # Errors
    /// [`QueueError::NotFound`] when there is none (or it was purged).
    async fn get(&self, id: TaskId) -> Result<TaskRecord, QueueError>;

    /// A page of the tasks matching `query`: at most `limit` of them, in enqueue order
    /// ([`TaskRecord::seq`]) ascending, or descending when `query.newest_first`. `after` is the
    /// `seq` of the last task of the previous page and is exclusive: ascending, the page starts
    /// at the first greater `seq`; descending, at the first smaller one. `None` starts at the
    /// oldest (newest) task.
    ///
    /// The cursor is a position, not a snapshot: a pass over the pages never repeats a task, and
    /// never skips one that matches throughout the pass (a task may leave or enter the filter by
    /// changing status between pages; ascending, tasks enqueued meanwhile come at the end). A page
    /// shorter than `limit` means nothing further matched when it was read. Purged tasks are gone.
    /// Statuses are those [`get`](Self::get) reports: a scheduled or failed task whose due time
    /// has passed reads `pending`.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn list(
        &self,
        query: &TaskQuery,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError>;

    /// How many tasks match `query`, by status: exactly the tasks a pass of
    /// [`list`](Self::list) with the same query would return at this instant, with the same
    /// statuses (`newest_first` is ignored). Purged tasks are not counted.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn count(&self, query: &TaskQuery) -> Result<StatusCounts, QueueError>;

    /// Leases up to `max` due tasks to `agent`, in claim order: strict priority, then
    /// weighted-fair across tenants (stride scheduling by tenant weight), then FIFO by enqueue
    /// order. Only tasks the claimant is eligible for are considered (required capabilities a
    /// subset of its own, tenant filter, and every limit key of the task, its tenant and the
    /// claimant below its limit); an ineligible task never holds back an eligible one.
    /// Each lease gets a fresh, strictly greater fence and expires after the lease TTL.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn claim(
        &self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
    ) -> Result<Vec<Lease>, QueueError>;

    /// Marks a leased task `running` (idempotent for the current holder).
    ///
    /// # Errors
    /// [`QueueError::StaleLease`] when the token is not the live lease; [`QueueError::NotFound`].
    async fn start(&self, token: &LeaseToken) -> Result<(), QueueError>;

    /// Extends the lease by the lease TTL from now.
    ///
    /// # Errors
    /// [`QueueError::StaleLease`] when the token is not the live lease; [`QueueError::NotFound`].
    async fn heartbeat(&self, token: &LeaseToken) -> Result<Heartbeat, QueueError>;

    /// Completes the task, releases its lease and unblocks its dependents.
    ///
    /// # Errors
    /// [`QueueError::StaleLease`] when the token is not the live lease; [`QueueError::NotFound`].
    async fn ack(&self, token: &LeaseToken, result: Option<Payload>) -> Result<(), QueueError>;

    /// Ends the attempt as failed and releases its lease. A cancel-requested task becomes
    /// `cancelled`; a non-retryable failure, or one that uses up `max_attempts`, moves it to
    /// `dead_letter`; otherwise it waits in `failed` for its backoff.
    ///
    /// # Errors
    /// [`QueueError::StaleLease`] when the token is not the live lease; [`QueueError::NotFound`].
    async fn fail(&self, token: &LeaseToken, failure: Failure) -> Result<FailOutcome, QueueError>;

    /// Gives the task back without counting an attempt (e.g. the gateway refused it before
    /// starting): it is due again at once, or `cancelled` if a cancel was requested.
    ///
    /// # Errors
    /// [`QueueError::StaleLease`] when the token is not the live lease; [`QueueError::NotFound`].
    async fn release(&self, token: &LeaseToken) -> Result<TaskStatus, QueueError>;

    /// Cancels a task: waiting ones (pending, blocked, scheduled, failed, dead_letter) at once,
    /// leased ones by a request the holder sees on its next heartbeat. Dependents still blocked
    /// on a cancelled task are cancelled too.
    ///
    /// # Errors
    /// [`QueueError::IllegalTransition`] for a completed or cancelled task; [`QueueError::NotFound`].
    async fn cancel(&self, id: TaskId, reason: &str) -> Result<CancelOutcome, QueueError>;

    /// Recovers every lease that has expired: each counts as a failed attempt, so the task is
    /// due again, dead-lettered at `max_attempts`, or cancelled if a cancel was requested.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn reap_expired(&self) -> Result<Vec<Requeued>, QueueError>;

    /// Recovers every lease held by `agent` as [`reap_expired`](Self::reap_expired) does for
    /// expired ones (failover of a lost agent or gateway).
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn fail_over(&self, agent: &AgentId, reason: &str) -> Result<Vec<Requeued>, QueueError>;

    /// Moves every scheduled or failed task whose `due_at` has passed to `pending`; returns how
    /// many moved. Claims see due tasks without it; it keeps statuses current for readers.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn promote_due(&self) -> Result<u64, QueueError>;

    /// Puts one dead-lettered task back as pending with a fresh attempt count.
    ///
    /// # Errors
    /// [`QueueError::NotDeadLettered`] when it is not in the dead letter queue; [`QueueError::NotFound`].
    async fn replay(&self, id: TaskId) -> Result<(), QueueError>;

    /// Replays every dead-lettered task matching `filter`; returns their ids, oldest first.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn replay_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<TaskId>, QueueError>;

    /// A page of dead-lettered tasks matching `filter`, ordered by (`dead_lettered_at`, id),
    /// starting after `after`.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<DeadLetterCursor>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, QueueError>;

    /// Deletes dead letters older than `retention`; returns how many.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn purge_dead_letters(&self, retention: Duration) -> Result<u64, QueueError>;

    /// Deletes completed and cancelled tasks that finished more than `retention` ago; returns
    /// how many. Their idempotency keys are freed with them.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn purge_finished(&self, retention: Duration) -> Result<u64, QueueError>;

    /// Due tasks waiting, by priority and tenant: exactly what claims could take now.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn depth(&self) -> Result<Depth, QueueError>;

    /// Tasks currently leased to `agent`.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn load(&self, agent: &AgentId) -> Result<u32, QueueError>;

    /// Sets a tenant's weight and queue bound.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] for a weight out of range.
    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: TenantPolicy,
    ) -> Result<(), QueueError>;

    /// Sets (or, with `None`, removes) the limits counted under `key`.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] for a rate out of range.
    async fn set_limit(&self, key: &LimitKey, limit: Option<Limit>) -> Result<(), QueueError>;

    /// Counters since the store started.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    async fn stats(&self) -> Result<QueueStats, QueueError>;
}

/// The result of one enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enqueued {
    /// The task's id (the existing task's, when deduplicated).
    pub id: TaskId,
    /// Its status.
    pub status: TaskStatus,
    /// Its priority after inheritance.
    pub priority: Priority,
    /// Whether an existing task with the same idempotency key was returned instead.
    pub deduplicated: bool,
}

/// Where a failed attempt left the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailOutcome {
    /// It waits in `failed` until `due_at`, then is due again.
    Retrying {
        /// Failed attempts so far.
        attempt_count: u32,
        /// When it is due again.
        due_at: OffsetDateTime,
    },
    /// It is in the dead letter queue.
    DeadLettered,
    /// A cancel had been requested: it is cancelled.
    Cancelled,
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelOutcome {
    /// The task is cancelled.
    Cancelled,
    /// The task is leased: the holder is asked to stop.
    Requested,
}

/// A task whose lease was recovered by [`QueueStore::reap_expired`] or [`QueueStore::fail_over`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requeued {
    /// The task.
    pub task: TaskId,
    /// The agent that held it.
    pub agent: AgentId,
    /// Its status now: `pending`, `dead_letter` or `cancelled`.
    pub status: TaskStatus,
}

/// Which dead letters an operation applies to; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterFilter {
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only those dead-lettered at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only those dead-lettered before this time.
    pub until: Option<OffsetDateTime>,
    /// Only those whose last error contains this text.
    pub error_contains: Option<String>,
}

impl DeadLetterFilter {
    /// Whether `record` (a dead letter) matches.
    #[must_use]
    pub fn matches(&self, record: &TaskRecord) -> bool {
        let at = record.dead_lettered_at;
        self.tenant.as_ref().is_none_or(|t| *t == record.tenant)
            && self.priority.is_none_or(|p| p == record.priority)
            && self.since.is_none_or(|s| at.is_some_and(|at| at >= s))
            && self.until.is_none_or(|u| at.is_some_and(|at| at < u))
            && self.error_contains.as_deref().is_none_or(|needle| {
                record
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains(needle))
            })
    }
}

/// Which tasks [`QueueStore::list`] and [`QueueStore::count`] apply to; every set field must
/// match. The default matches every task, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskQuery {
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only those in one of these statuses; empty matches any status.
    pub statuses: Vec<TaskStatus>,
    /// Only this priority ([`TaskRecord::priority`]: after inheritance, not raised by aging).
    pub priority: Option<Priority>,
    /// Only those whose lease this agent holds now. [`TaskRecord::assignee`] is set only while a
    /// task is `assigned` or `running` and is cleared when the lease ends (ack, fail, release,
    /// expiry, failover), so this finds an agent's current tasks, never the ones it finished.
    pub assignee: Option<AgentId>,
    /// Only those enqueued in this group ([`NewTask::group`](crate::NewTask::group)).
    pub group: Option<Uuid>,
    /// List newest first (descending `seq`) instead of oldest first; ignored by counts.
    pub newest_first: bool,
}

impl TaskQuery {
    /// Whether `record` matches (`newest_first` plays no part).
    #[must_use]
    pub fn matches(&self, record: &TaskRecord) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == record.tenant)
            && (self.statuses.is_empty() || self.statuses.contains(&record.status))
            && self.priority.is_none_or(|p| p == record.priority)
            && self
                .assignee
                .as_ref()
                .is_none_or(|a| record.assignee.as_ref() == Some(a))
            && self.group.is_none_or(|g| record.group == Some(g))
    }
}

/// Numbers of tasks by status, as [`QueueStore::count`] returns them. In JSON, an object with one
/// key per status name (`{"pending": 2, "blocked": 0, ...}`); a status missing from the object
/// reads as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Indexed by `slot(status)`, in the order of `TaskStatus::ALL`.
    counts: [u64; TaskStatus::ALL.len()],
}

/// Where `status` is counted in [`StatusCounts`]: its position in [`TaskStatus::ALL`], which
/// lists the statuses in declaration order.
const fn slot(status: TaskStatus) -> usize {
    status as usize
}

impl StatusCounts {
    /// Tasks in `status`.
    #[must_use]
    pub const fn get(&self, status: TaskStatus) -> u64 {
        self.counts[slot(status)]
    }

    /// Counts `n` more tasks in `status`.
    pub const fn add(&mut self, status: TaskStatus, n: u64) {
        self.counts[slot(status)] += n;
    }

    /// All tasks counted.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Tasks that will not run again unless replayed: completed, cancelled and dead-lettered.
    #[must_use]
    pub const fn finished(&self) -> u64 {
        self.get(TaskStatus::Completed)
            + self.get(TaskStatus::Cancelled)
            + self.get(TaskStatus::DeadLetter)
    }

    /// Whether every task counted is [`finished`](Self::finished) (also when there are none).
    #[must_use]
    pub fn all_finished(&self) -> bool {
        self.finished() == self.total()
    }

    /// Every status with its count (zeros included), in the order of [`TaskStatus::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (TaskStatus, u64)> + '_ {
        TaskStatus::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}

impl FromIterator<TaskStatus> for StatusCounts {
    fn from_iter<I: IntoIterator<Item = TaskStatus>>(statuses: I) -> Self {
        let mut counts = Self::default();
        for status in statuses {
            counts.add(status, 1);
        }
        counts
    }
}

impl Serialize for StatusCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.counts.len()))?;
        for (status, n) in self.iter() {
            map.serialize_entry(status.as_str(), &n)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StatusCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountsVisitor;

        impl<'de> Visitor<'de> for CountsVisitor {
            type Value = StatusCounts;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from task status to count")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StatusCounts, A::Error> {
                let mut counts = StatusCounts::default();
                while let Some((status, n)) = map.next_entry::<TaskStatus, u64>()? {
                    counts.counts[slot(status)] = n;
                }
                Ok(counts)
            }
        }

        d.deserialize_map(CountsVisitor)
    }
}

/// Position in the dead letter order, to page from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeadLetterCursor {
    /// The last seen task's `dead_lettered_at`.
    pub at: OffsetDateTime,
    /// The last seen task's id.
    pub id: TaskId,
}

impl DeadLetterCursor {
    /// The cursor just after `record`, or `None` if it is not a dead letter.
    #[must_use]
    pub fn after(record: &TaskRecord) -> Option<Self> {
        record.dead_lettered_at.map(|at| Self { at, id: record.id })
    }
}

/// Waiting, due tasks by priority and tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Depth {
    /// Indexed by [`Priority::rank`]: critical, high, medium, low.
    pub by_priority: [u64; 4],
    /// Per tenant with any due task, by [`Priority::rank`].
    pub by_tenant: BTreeMap<TenantId, [u64; 4]>,
}

impl Depth {
    /// All due tasks waiting.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.by_priority.iter().sum()
    }

    /// Due tasks waiting at `priority`.
    #[must_use]
    pub fn at(&self, priority: Priority) -> u64 {
        self.by_priority[priority.rank()]
    }

    /// Due tasks of `tenant` waiting, all priorities.
    #[must_use]
    pub fn of_tenant(&self, tenant: &TenantId) -> u64 {
        self.by_tenant.get(tenant).map_or(0, |c| c.iter().sum())
    }
}

/// Counters of a store since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Tasks enqueued (not counting deduplicated ones).
    pub enqueued: u64,
    /// Leases handed out.
    pub claimed: u64,
    /// Tasks completed.
    pub completed: u64,
    /// Attempts that failed (reported failures, expired leases, failovers).
    pub failed_attempts: u64,
    /// Tasks moved to dead letter.
    pub dead_lettered: u64,
    /// Claims that skipped at least one eligible task because a limit key was at its limit.
    pub throttled: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_own_slot() {
        for (i, status) in TaskStatus::ALL.into_iter().enumerate() {
            assert_eq!(slot(status), i, "{status}");
        }
    }

    #[test]
    fn status_counts_sum_and_tell_finished_work() {
        use TaskStatus::*;
        let counts: StatusCounts = [
            Pending, Running, Completed, Completed, DeadLetter, Cancelled,
        ]
        .into_iter()
        .collect();
        assert_eq!(counts.get(Completed), 2);
        assert_eq!(counts.get(Blocked), 0);
        assert_eq!(counts.total(), 6);
        assert_eq!(counts.finished(), 4);
        assert!(!counts.all_finished());
        let done: StatusCounts = [Completed, Cancelled].into_iter().collect();
        assert!(done.all_finished());
        assert!(StatusCounts::default().all_finished());
    }

    #[test]
    fn status_counts_are_a_json_object_keyed_by_status() {
        let mut counts = StatusCounts::default();
        counts.add(TaskStatus::DeadLetter, 3);
        counts.add(TaskStatus::Pending, 1);
        let json = serde_json::to_value(counts).unwrap();
        assert_eq!(json["dead_letter"], 3);
        assert_eq!(json["pending"], 1);
        assert_eq!(json["running"], 0);
        assert_eq!(json.as_object().unwrap().len(), 9);
        assert_eq!(
            serde_json::from_value::<StatusCounts>(json).unwrap(),
            counts
        );
        let sparse: StatusCounts = serde_json::from_str(r#"{"running": 2}"#).unwrap();
        assert_eq!(sparse.get(TaskStatus::Running), 2);
        assert_eq!(sparse.total(), 2);
        assert!(serde_json::from_str::<StatusCounts>(r#"{"done": 1}"#).is_err());
    }

    #[test]
    fn an_empty_query_matches_everything_and_each_field_narrows() {
        let query: TaskQuery = serde_json::from_str("{}").unwrap();
        assert_eq!(query, TaskQuery::default());
        let group = Uuid::from_u128(7);
        let record = TaskRecord {
            group: Some(group),
            ..sample_record()
        };
        assert!(query.matches(&record));
        let in_group = TaskQuery {
            group: Some(group),
            statuses: vec![TaskStatus::Running, TaskStatus::Pending],
            ..TaskQuery::default()
        };
        assert!(in_group.matches(&record));
        let other_group = TaskQuery {
            group: Some(Uuid::from_u128(8)),
            ..TaskQuery::default()
        };
        assert!(!other_group.matches(&record));
        let not_pending = TaskQuery {
            statuses: vec![TaskStatus::Running],
            ..TaskQuery::default()
        };
        assert!(!not_pending.matches(&record));
        let held = TaskQuery {
            assignee: Some(AgentId::parse("a1").unwrap()),
            ..TaskQuery::default()
        };
        assert!(!held.matches(&record), "a pending task has no assignee");
    }

    fn sample_record() -> TaskRecord {
        let now = OffsetDateTime::UNIX_EPOCH;
        TaskRecord {
            id: TaskId::from_u128(1),
            tenant: TenantId::parse("acme").unwrap(),
            priority: Priority::Medium,
            status: TaskStatus::Pending,
            payload: crate::task::Payload::default(),
            capabilities: crate::ids::Capabilities::none(),
            limit_keys: Vec::new().into(),
            attempt_count: 0,
            max_attempts: 3,
            seq: 0,
            created_at: now,
            updated_at: now,
            due_at: None,
            started_at: None,
            finished_at: None,
            dead_lettered_at: None,
            assignee: None,
            lease_fence: None,
            lease_expires_at: None,
            cancel_requested: false,
            last_error: None,
            result: None,
            depends_on: Vec::new().into(),
            parent_id: None,
            idempotency_key: None,
            group: None,
        }
    }
}
