//! `TaskService`: submit (with validation), get, list with filters and cursor paging, cancel,
//! retry, dead letters, depth, team progress, a task's events.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use godel_lifecycle::{EventQuery, TaskDetails};
use godel_queue::{
    CancelOutcome, Capabilities, DeadLetterCursor, DeadLetterFilter, Depth, NewTask, QueueError,
    TaskQuery, TaskStatus,
};
use godel_types::{
    AgentId, Event, Priority, SessionState, TaskEventKind, TaskId, TeamId, TenantId,
};
use serde::{Deserialize, Serialize};

use crate::engine::{Inner, StopReason};
use crate::error::EngineError;
use crate::model::{Page, SubmitTask, Task, TeamProgress, session_capability};

/// Longest accepted prompt, in bytes.
const MAX_PROMPT_LEN: usize = 512 * 1024;
/// Most attempts a task may ask for.
const MAX_ATTEMPTS: u32 = 100;
/// Longest run timeout a task may ask for: one day.
const MAX_TIMEOUT_S: u64 = 86_400;
/// Most tasks on one page.
pub(crate) const MAX_PAGE: usize = 100;

/// Task use cases.
#[derive(Clone)]
pub struct TaskService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TaskService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskService").finish_non_exhaustive()
    }
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// The task (the existing one when deduplicated).
    pub task: Task,
    /// Whether an earlier task with the same idempotency key was returned.
    pub deduplicated: bool,
}

/// Filters and paging of [`TaskService::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskListQuery {
    /// Only these statuses (empty: any).
    pub statuses: Vec<TaskStatus>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only tasks this agent holds a lease on now.
    pub agent: Option<AgentId>,
    /// Only this team's.
    pub team: Option<TeamId>,
    /// Newest first (default oldest first).
    pub newest_first: bool,
    /// The cursor of the previous page.
    pub cursor: Option<String>,
    /// Page size (default 20, at most 100).
    pub limit: Option<usize>,
}

impl TaskService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Validates and queues a task for `tenant`. The task is durable when this returns.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] naming the field at fault; [`EngineError::NotFound`] for an
    /// unknown session, parent or dependency; [`EngineError::OverCapacity`] when the tenant's
    /// queue is full; [`EngineError::ShuttingDown`]; [`EngineError::Unavailable`].
    pub async fn submit(
        &self,
        tenant: &TenantId,
        request: SubmitTask,
    ) -> Result<Submitted, EngineError> {
        let inner = &self.inner;
        if !inner.accepting.load(Ordering::SeqCst) {
            return Err(EngineError::ShuttingDown);
        }
        let mut task = self.validate(tenant, &request).await?;
        let mut details = TaskDetails::new(task.id, tenant.clone());
        details.session = request.session_id;
        details.team = request.team_id;
        details.timeout = request.timeout_s.map(Duration::from_secs);
        if let Some(session) = request.session_id {
            let mut caps: Vec<_> = task.capabilities.iter().cloned().collect();
            caps.extend(session_capability(session));
            task.capabilities = Capabilities::from(caps);
        }
        inner.stores.tasks.insert(details).await?;
        let id = task.id;
        let enqueued = match inner.stores.queue.enqueue(task).await {
            Ok(e) => e,
            Err(e) => {
                let _ = inner.stores.tasks.remove(&[id]).await;
                return Err(match e {
                    QueueError::UnknownDependency { .. } | QueueError::UnknownParent { .. } => {
                        EngineError::not_found("task", e.to_string())
                    }
                    other => other.into(),
                });
            }
        };
        if enqueued.deduplicated {
            let _ = inner.stores.tasks.remove(&[id]).await;
        }
        let task = self.get(tenant, enqueued.id).await?;
        if !enqueued.deduplicated {
            metrics::counter!(crate::metrics::TASKS_CREATED, "priority" => task.priority.as_str(), "tenant" => tenant.to_string()).increment(1);
            let record = inner.stores.queue.get(task.id).await?;
            inner.publish_task(TaskEventKind::Created, &record, |e| {
                e.session_id = task.session_id;
                e.team_id = task.team_id;
            });
            inner.wake.notify_one();
        }
        Ok(Submitted {
            task,
            deduplicated: enqueued.deduplicated,
        })
    }

    /// Checks a submission and builds the queue's task.
    async fn validate(&self, tenant: &TenantId, r: &SubmitTask) -> Result<NewTask, EngineError> {
        let Some(payload) = r.payload.as_object() else {
            return Err(EngineError::invalid("payload", "must be a JSON object"));
        };
        match payload.get("prompt").and_then(|p| p.as_str()) {
            Some(p) if p.trim().is_empty() => {
                return Err(EngineError::invalid("payload.prompt", "must not be empty"));
            }
            Some(p) if p.len() > MAX_PROMPT_LEN => {
                return Err(EngineError::invalid(
                    "payload.prompt",
                    "longer than 512 KiB",
                ));
            }
            Some(_) => {}
            None => {
                return Err(EngineError::invalid(
                    "payload.prompt",
                    "a string is required",
                ));
            }
        }
        let mut task = NewTask::new(tenant.clone(), r.payload.clone());
        if let Some(p) = r.priority {
            task = task.with_priority(p);
        }
        if let Some(n) = r.max_attempts {
            if n == 0 || n > MAX_ATTEMPTS {
                return Err(EngineError::invalid("max_attempts", "must be 1 to 100"));
            }
            task = task.with_max_attempts(n);
        }
        if let Some(t) = r.timeout_s
            && (t == 0 || t > MAX_TIMEOUT_S)
        {
            return Err(EngineError::invalid(
                "timeout_s",
                "must be 1 to 86400 seconds",
            ));
        }
        if let Some(at) = r.scheduled_at {
            let now = self.inner.clock.now();
            if at > now + Duration::from_secs(366 * 86_400) {
                return Err(EngineError::invalid(
                    "scheduled_at",
                    "more than a year ahead",
                ));
            }
            task = task.scheduled_at(at);
        }
        let caps = Capabilities::parse(r.capabilities.iter().map(String::as_str))
            .map_err(|e| EngineError::invalid("capabilities", e.to_string()))?;
        if caps.iter().any(|c| c.as_str().starts_with("session:")) {
            return Err(EngineError::invalid(
                "capabilities",
                "the prefix session: is reserved",
            ));
        }
        task = task.with_capabilities(caps);
        if let Some(session) = r.session_id {
            let found = self.inner.stores.sessions.get(tenant, session).await?;
            if found.state.is_terminal() {
                return Err(EngineError::Conflict(format!(
                    "session {session} is {}",
                    found.state
                )));
            }
            if found.state == SessionState::Created {
                return Err(EngineError::Conflict(format!(
                    "session {session} is not open yet"
                )));
            }
        }
        if let Some(team) = r.team_id {
            task = task.with_group(*team.as_uuid());
        }
        if let Some(parent) = r.parent_id {
            task = task.with_parent(parent);
        }
        for dep in &r.depends_on {
            task = task.depends_on(*dep);
        }
        if let Some(key) = &r.idempotency_key {
            task = task.with_idempotency_key(key.clone());
        }
        Ok(task)
    }

    /// One task of `tenant`.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] when it does not exist for this tenant.
    pub async fn get(&self, tenant: &TenantId, id: TaskId) -> Result<Task, EngineError> {
        let record = match self.inner.stores.queue.get(id).await {
            Ok(r) if &r.tenant == tenant => r,
            Ok(_) | Err(QueueError::NotFound(_)) => return Err(EngineError::not_found("task", id)),
            Err(e) => return Err(e.into()),
        };
        let details = self.inner.stores.tasks.get(tenant, id).await.ok();
        Ok(Task::from_parts(record, details))
    }

    /// A page of `tenant`'s tasks.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for a malformed cursor or limit; [`EngineError::Unavailable`].
    pub async fn list(
        &self,
        tenant: &TenantId,
        query: &TaskListQuery,
    ) -> Result<Page<Task>, EngineError> {
        let limit = query.limit.unwrap_or(20);
        if limit == 0 || limit > MAX_PAGE {
            return Err(EngineError::invalid("limit", "must be 1 to 100"));
        }
        let after = match &query.cursor {
            None => None,
            Some(c) => Some(
                c.parse::<u64>()
                    .map_err(|_| EngineError::invalid("cursor", "not a cursor from this API"))?,
            ),
        };
        let filter = TaskQuery {
            tenant: Some(tenant.clone()),
            statuses: query.statuses.clone(),
            priority: query.priority,
            assignee: query.agent.clone(),
            group: query.team.map(|t| *t.as_uuid()),
            newest_first: query.newest_first,
        };
        let queue = &self.inner.stores.queue;
        let (records, counts) =
            tokio::join!(queue.list(&filter, after, limit + 1), queue.count(&filter));
        let (mut records, total) = (records?, counts?.total());
        let more = records.len() > limit;
        records.truncate(limit);
        let last_seq = records.last().map(|r| r.seq);
        // The page's details in one read.
        let ids: Vec<TaskId> = records.iter().map(|r| r.id).collect();
        let mut details: std::collections::HashMap<TaskId, TaskDetails> = self
            .inner
            .stores
            .tasks
            .get_many(tenant, &ids)
            .await
            .map(|found| found.into_iter().map(|d| (d.id, d)).collect())
            .unwrap_or_default();
        let items = records
            .into_iter()
            .map(|record| {
                let own = details.remove(&record.id);
                Task::from_parts(record, own)
            })
            .collect();
        Ok(Page {
            items,
            next_cursor: if more {
                last_seq.map(|s| s.to_string())
            } else {
                None
            },
            total,
        })
    }

    /// Cancels a task: at once when it waits; a running one is aborted on its gateway first.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; [`EngineError::Conflict`] when it already ended.
    pub async fn cancel(
        &self,
        tenant: &TenantId,
        id: TaskId,
        reason: &str,
    ) -> Result<Task, EngineError> {
        self.get(tenant, id).await?;
        match self.inner.stores.queue.cancel(id, reason).await {
            Ok(CancelOutcome::Cancelled) => {
                let record = self.inner.stores.queue.get(id).await?;
                self.inner
                    .publish_task(TaskEventKind::Cancelled, &record, |e| {
                        e.message = Some(reason.to_owned());
                    });
            }
            Ok(CancelOutcome::Requested) => {
                // A run followed by this replica is aborted now; one followed elsewhere sees
                // the request on its next heartbeat.
                if let Some(control) = self.inner.runs().get(&id) {
                    let _ = control.stop.send(Some(StopReason::Cancelled));
                }
                self.inner.wake.notify_one();
            }
            Err(QueueError::IllegalTransition { .. }) => {
                return Err(EngineError::Conflict(format!("task {id} already ended")));
            }
            Err(e) => return Err(e.into()),
        }
        self.get(tenant, id).await
    }

    /// Manual retry of a dead-lettered task (a fresh set of attempts).
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; [`EngineError::Conflict`] when it is not dead-lettered.
    pub async fn retry(&self, tenant: &TenantId, id: TaskId) -> Result<Task, EngineError> {
        self.get(tenant, id).await?;
        match self.inner.stores.queue.replay(id).await {
            Ok(()) => {}
            Err(QueueError::NotDeadLettered { .. }) => {
                return Err(EngineError::Conflict(format!(
                    "task {id} is not dead-lettered"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let record = self.inner.stores.queue.get(id).await?;
        self.inner
            .publish_task(TaskEventKind::Retried, &record, |e| {
                e.message = Some("replayed from the dead letter queue".into());
            });
        self.inner.wake.notify_one();
        self.get(tenant, id).await
    }

    /// Replays `tenant`'s dead letters matching `filter`; returns their ids.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`].
    pub async fn replay_dead_letters(
        &self,
        tenant: &TenantId,
        mut filter: DeadLetterFilter,
    ) -> Result<Vec<TaskId>, EngineError> {
        filter.tenant = Some(tenant.clone());
        let ids = self.inner.stores.queue.replay_dead_letters(&filter).await?;
        for id in &ids {
            if let Ok(record) = self.inner.stores.queue.get(*id).await {
                self.inner
                    .publish_task(TaskEventKind::Retried, &record, |e| {
                        e.message = Some("replayed from the dead letter queue".into());
                    });
            }
        }
        self.inner.wake.notify_one();
        Ok(ids)
    }

    /// A page of `tenant`'s dead letters.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`].
    pub async fn dead_letters(
        &self,
        tenant: &TenantId,
        mut filter: DeadLetterFilter,
        after: Option<DeadLetterCursor>,
        limit: usize,
    ) -> Result<Vec<Task>, EngineError> {
        filter.tenant = Some(tenant.clone());
        let records = self
            .inner
            .stores
            .queue
            .dead_letters(&filter, after, limit.min(MAX_PAGE))
            .await?;
        Ok(records
            .into_iter()
            .map(|r| Task::from_parts(r, None))
            .collect())
    }

    /// Due depth by priority and tenant.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`].
    pub async fn depth(&self) -> Result<Depth, EngineError> {
        Ok(self.inner.stores.queue.depth().await?)
    }

    /// A team's progress.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] when the team has no task; [`EngineError::Unavailable`].
    pub async fn team_progress(
        &self,
        tenant: &TenantId,
        team: TeamId,
    ) -> Result<TeamProgress, EngineError> {
        let query = TaskQuery {
            tenant: Some(tenant.clone()),
            group: Some(*team.as_uuid()),
            ..TaskQuery::default()
        };
        let counts = self.inner.stores.queue.count(&query).await?;
        if counts.total() == 0 {
            return Err(EngineError::not_found("team", team));
        }
        let get = |s| counts.get(s);
        Ok(TeamProgress {
            team_id: team,
            total: counts.total(),
            completed: get(TaskStatus::Completed),
            running: get(TaskStatus::Running) + get(TaskStatus::Assigned),
            waiting: get(TaskStatus::Pending)
                + get(TaskStatus::Blocked)
                + get(TaskStatus::Scheduled)
                + get(TaskStatus::Failed),
            dead_lettered: get(TaskStatus::DeadLetter),
            cancelled: get(TaskStatus::Cancelled),
        })
    }

    /// The task's event history (audit trail), oldest first.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; [`EngineError::Unavailable`].
    pub async fn events(
        &self,
        tenant: &TenantId,
        id: TaskId,
        limit: usize,
    ) -> Result<Vec<Event>, EngineError> {
        self.get(tenant, id).await?;
        let query = EventQuery {
            tenant: Some(tenant.clone()),
            task: Some(id),
            names: Vec::new(),
        };
        Ok(self.inner.stores.events.list(&query, None, limit).await?)
    }
}
