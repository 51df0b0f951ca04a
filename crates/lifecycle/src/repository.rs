//! The repository ports: where Godel keeps task details, sessions, agents, checkpoints and the
//! audit trail. Each is implemented in memory here ([`crate::memory`]) and by every store
//! adapter (SQLite, Postgres); all run the same conformance suites (feature `test-util`).
//!
//! Tenant-scoped methods take the tenant: an adapter sets it on the transaction (Postgres
//! row-level security), and a record of another tenant is reported as not found.

use std::error::Error as StdError;

use async_trait::async_trait;
use godel_types::{
    AgentId, CheckpointId, Event, EventId, EventName, InstanceId, SessionId, SessionState, TaskId,
    TeamId, TenantId,
};
use serde::{Deserialize, Serialize};

use crate::gateway::RunId;
use crate::records::{AgentRecord, Checkpoint, RunOutcome, RunRecord, SessionRecord, TaskDetails};

/// Task details beyond the queue record.
#[async_trait]
pub trait TaskRepository: Send + Sync {
    /// Stores the details of a new task.
    ///
    /// # Errors
    /// [`RepositoryError::AlreadyExists`] when the task has details already.
    async fn insert(&self, details: TaskDetails) -> Result<(), RepositoryError>;

    /// The details of a task.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`] when there are none for this tenant.
    async fn get(&self, tenant: &TenantId, id: TaskId) -> Result<TaskDetails, RepositoryError>;

    /// The details of each of `ids` that has some for this tenant, in any order (a page of a
    /// task list reads them at once). Stores override this to read them in one statement.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] (or the first error a read gives other than
    /// `NotFound`).
    async fn get_many(
        &self,
        tenant: &TenantId,
        ids: &[TaskId],
    ) -> Result<Vec<TaskDetails>, RepositoryError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            match self.get(tenant, *id).await {
                Ok(details) => found.push(details),
                Err(RepositoryError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Appends a run to a task.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`] when the task has no details;
    /// [`RepositoryError::AlreadyExists`] when it has a run with this id.
    async fn add_run(
        &self,
        tenant: &TenantId,
        id: TaskId,
        run: RunRecord,
    ) -> Result<(), RepositoryError>;

    /// Records how a run ended. Ending an ended run again changes nothing and is not an error.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`] when the task or the run is unknown.
    async fn end_run(
        &self,
        tenant: &TenantId,
        id: TaskId,
        run: &RunId,
        outcome: RunOutcome,
        at: time::OffsetDateTime,
    ) -> Result<(), RepositoryError>;

    /// Deletes the details of tasks (e.g. those the queue purged); returns how many existed.
    ///
    /// # Errors
    /// Only [`RepositoryError::Unavailable`].
    async fn remove(&self, ids: &[TaskId]) -> Result<u64, RepositoryError>;
}

/// Sessions.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session (its `version` is kept as given).
    ///
    /// # Errors
    /// [`RepositoryError::AlreadyExists`] when the id is taken.
    async fn insert(&self, session: SessionRecord) -> Result<(), RepositoryError>;

    /// One session.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`] when there is none for this tenant.
    async fn get(&self, tenant: &TenantId, id: SessionId)
    -> Result<SessionRecord, RepositoryError>;

    /// Replaces a session if the stored copy still has `session.version - 1`: an update made
    /// from a stale copy is refused, so concurrent changes are never lost.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`]; [`RepositoryError::Conflict`] for a stale version.
    async fn update(&self, session: &SessionRecord) -> Result<(), RepositoryError>;

    /// Sessions matching `filter`, ordered by id (creation order), after `after`.
    ///
    /// # Errors
    /// Only [`RepositoryError::Unavailable`].
    async fn list(
        &self,
        filter: &SessionFilter,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, RepositoryError>;
}

/// Which sessions to list; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFilter {
    /// Only this tenant's (`None`: every tenant, for fleet-wide duties such as failover).
    pub tenant: Option<TenantId>,
    /// Only those on this agent.
    pub agent: Option<AgentId>,
    /// Only those on this instance.
    pub instance: Option<InstanceId>,
    /// Only those serving this team.
    pub team: Option<TeamId>,
    /// Only those in one of these states (empty: any).
    pub states: Vec<SessionState>,
    /// Only those not in a terminal state.
    pub open_only: bool,
}

impl SessionFilter {
    /// Whether `session` matches.
    #[must_use]
    pub fn matches(&self, session: &SessionRecord) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == session.tenant)
            && self.agent.as_ref().is_none_or(|a| *a == session.agent)
            && self.instance.is_none_or(|i| i == session.instance)
            && self.team.is_none_or(|t| Some(t) == session.team)
            && (self.states.is_empty() || self.states.contains(&session.state))
            && (!self.open_only || !session.state.is_terminal())
    }
}

/// Agents (fleet-wide: agents serve every tenant from the shared pool).
#[async_trait]
pub trait AgentRepository: Send + Sync {
    /// Registers an agent.
    ///
    /// # Errors
    /// [`RepositoryError::AlreadyExists`] when the id is taken.
    async fn insert(&self, agent: AgentRecord) -> Result<(), RepositoryError>;

    /// One agent.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`].
    async fn get(&self, id: &AgentId) -> Result<AgentRecord, RepositoryError>;

    /// Replaces an agent's record.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`].
    async fn update(&self, agent: &AgentRecord) -> Result<(), RepositoryError>;

    /// Every agent, or those of one instance, ordered by id.
    ///
    /// # Errors
    /// Only [`RepositoryError::Unavailable`].
    async fn list(&self, instance: Option<InstanceId>)
    -> Result<Vec<AgentRecord>, RepositoryError>;

    /// Deregisters an agent and returns its last record.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`].
    async fn remove(&self, id: &AgentId) -> Result<AgentRecord, RepositoryError>;
}

/// Session checkpoints.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Saves a checkpoint.
    ///
    /// # Errors
    /// [`RepositoryError::AlreadyExists`] when the id is taken, or the session already has a
    /// checkpoint with the same name.
    async fn save(&self, checkpoint: Checkpoint) -> Result<(), RepositoryError>;

    /// One checkpoint.
    ///
    /// # Errors
    /// [`RepositoryError::NotFound`] when there is none for this tenant.
    async fn get(&self, tenant: &TenantId, id: CheckpointId)
    -> Result<Checkpoint, RepositoryError>;

    /// The newest checkpoint of a session, if any.
    ///
    /// # Errors
    /// Only [`RepositoryError::Unavailable`].
    async fn latest(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> Result<Option<Checkpoint>, RepositoryError>;

    /// A session's checkpoints, oldest first.
    ///
    /// # Errors
    /// Only [`RepositoryError::Unavailable`].
    async fn list(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> Result<Vec<Checkpoint>, RepositoryError>;

    /// Deletes a session's unnamed (automatic) checkpoints except the newest `keep`; named ones
    /// stay. Returns how many were deleted.
    ///
    /// # Errors
    /// Only [`RepositoryError::Unavailable`].
    async fn prune(
        &self,
        tenant: &TenantId,
        session: SessionId,
        keep: usize,
    ) -> Result<u64, RepositoryError>;
}

/// The audit trail: every domain event, append-only.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends events (a batch is written all or none). Appending an event whose id is already
    /// stored is ignored, so a retried batch does not duplicate.
    ///
    /// # Errors
    /// Only [`RepositoryError::Unavailable`].
    async fn append(&self, events: &[Event]) -> Result<(), RepositoryError>;

    /// Events matching `query` in id order (emission order), after `after`.
    ///
    /// # Errors
    /// Only [`RepositoryError::Unavailable`].
    async fn list(
        &self,
        query: &EventQuery,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<Event>, RepositoryError>;
}

/// Which events to read; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQuery {
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only those about this task.
    pub task: Option<TaskId>,
    /// Only these names (empty: any).
    pub names: Vec<EventName>,
}

impl EventQuery {
    /// Whether `event` matches.
    #[must_use]
    pub fn matches(&self, event: &Event) -> bool {
        self.tenant
            .as_ref()
            .is_none_or(|t| event.tenant.as_ref() == Some(t))
            && self.task.is_none_or(|t| event.task_id() == Some(t))
            && (self.names.is_empty() || self.names.contains(&event.name()))
    }
}

/// A repository call that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError {
    /// No such record (for this tenant).
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for, e.g. `"session"`.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The record exists already.
    #[error("{entity} {id} already exists")]
    AlreadyExists {
        /// What, e.g. `"agent"`.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The update was made from a stale copy.
    #[error("{entity} {id} was changed concurrently")]
    Conflict {
        /// What.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The store cannot be reached or failed.
    #[error("repository unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The driver's error.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
}

impl RepositoryError {
    /// A [`NotFound`](Self::NotFound) error.
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// An [`AlreadyExists`](Self::AlreadyExists) error.
    pub fn already_exists(entity: &'static str, id: impl ToString) -> Self {
        Self::AlreadyExists {
            entity,
            id: id.to_string(),
        }
    }

    /// A [`Conflict`](Self::Conflict) error.
    pub fn conflict(entity: &'static str, id: impl ToString) -> Self {
        Self::Conflict {
            entity,
            id: id.to_string(),
        }
    }

    /// An [`Unavailable`](Self::Unavailable) error carrying the driver's error.
    pub fn unavailable(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether the same call may succeed later.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Conflict { .. })
    }
}
