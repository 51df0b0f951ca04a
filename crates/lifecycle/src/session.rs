//! The session state machine (PRD FR-2, with pause, checkpoint and migration of US-020 and
//! US-027), as [`SessionRecord::apply`]. The transition table, the effects and the events are
//! documented on [`SessionCommand`], the public face of this module.

mod timeouts;

use godel_types::{
    AgentId, CheckpointId, Event, EventBody, InstanceId, SessionEvent, SessionEventKind, SessionId,
    SessionState, TaskId, TeamId, TenantId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use self::timeouts::SessionTimeouts;
use crate::error::LifecycleError;
use crate::gateway::SessionKey;
use crate::records::{SessionConfig, SessionRecord, StateChange};

/// What can be asked of a session, applied with [`SessionRecord::apply`].
///
/// | command | from | to | effect |
/// | --- | --- | --- | --- |
/// | `Initialize` | created | initializing | |
/// | `Ready` | initializing | ready | |
/// | `StartRun` | ready | running | sets `active_task` |
/// | `FinishRun` | running | ready | clears `active_task` |
/// | `FinishRun` | paused, with an active task | paused | clears `active_task` (the run in flight when paused ended) |
/// | `Complete` | ready, running | completing | clears `active_task` |
/// | `Close` | completing | completed | |
/// | `Pause` | ready, running | paused | keeps `active_task` |
/// | `Resume` | paused | running if it has an `active_task`, else ready | |
/// | `Checkpoint` | ready, running, paused | unchanged | sets `last_checkpoint` |
/// | `Migrate` | ready, running, paused | migrating | sets `agent`, `instance`, `key` (a target equal to the current one is invalid); keeps `active_task` |
/// | `Migrated` | migrating | paused if it was paused before, else running if it has an `active_task`, else ready | |
/// | `Fail` | any non-terminal | failed | |
/// | `Cancel` | any non-terminal | cancelled | |
/// | `Error` | any non-terminal | error | |
/// | `Expire` | any non-terminal whose deadline has passed | timeout | |
///
/// Terminal states (completed, failed, cancelled, timeout, error) accept nothing. Entering a
/// terminal state clears `active_task`, so `active_task` is set exactly in running, and
/// possibly in paused and migrating.
///
/// Every accepted command appends a [`StateChange`] to the history (also the two that keep the
/// state, `Checkpoint` and `FinishRun` while paused, with `from == to`), bumps `version` by one,
/// sets `updated_at`, and returns the event to publish:
///
/// | entering | event |
/// | --- | --- |
/// | ready from initializing (the gateway session is open) | `session.opened` |
/// | error | `session.error` |
/// | any other terminal state | `session.closed` |
/// | anything else, including a `Checkpoint` (reason `checkpoint <id>`) | `session.state_change` |
///
/// A state change sets `deadline` from [`SessionTimeouts`] for the new state; the two commands
/// that keep the state keep the deadline, so periodic checkpoints never keep a stuck state
/// alive. `Expire` is accepted only once the deadline has passed ([`LifecycleError::NotDue`]
/// before, an illegal transition in a state without a deadline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum SessionCommand {
    /// Start opening the gateway session.
    Initialize,
    /// The gateway session is open.
    Ready,
    /// A run of `task` starts in the session.
    StartRun {
        /// The task whose run starts.
        task: TaskId,
    },
    /// The active run ended (whatever its outcome: the task's fate is the queue's business).
    FinishRun,
    /// The session's work is done: close the gateway session.
    Complete,
    /// The gateway session is closed.
    Close,
    /// An operator holds the session: no new run starts.
    Pause,
    /// An operator releases the hold.
    Resume,
    /// A checkpoint of the session was saved.
    Checkpoint {
        /// The checkpoint.
        checkpoint: CheckpointId,
    },
    /// Move the session to another agent (from its last checkpoint).
    Migrate {
        /// The agent it moves to.
        agent: AgentId,
        /// That agent's instance.
        instance: InstanceId,
        /// Its gateway session key there.
        key: SessionKey,
    },
    /// The move is done.
    Migrated,
    /// The session's work failed beyond recovery.
    Fail {
        /// Why.
        reason: String,
    },
    /// An operator or a cancelled task ends the session.
    Cancel {
        /// Why.
        reason: String,
    },
    /// An infrastructure error ends the session (gateway lost, protocol failure).
    Error {
        /// What happened.
        reason: String,
    },
    /// The current state ran past its deadline.
    Expire,
}

impl SessionCommand {
    /// The command's name, e.g. `start_run`, as it appears in errors and JSON.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Initialize => "initialize",
            Self::Ready => "ready",
            Self::StartRun { .. } => "start_run",
            Self::FinishRun => "finish_run",
            Self::Complete => "complete",
            Self::Close => "close",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Checkpoint { .. } => "checkpoint",
            Self::Migrate { .. } => "migrate",
            Self::Migrated => "migrated",
            Self::Fail { .. } => "fail",
            Self::Cancel { .. } => "cancel",
            Self::Error { .. } => "error",
            Self::Expire => "expire",
        }
    }
}

impl SessionRecord {
    /// A session just recorded: state created, no deadline, version 0, empty history.
    #[expect(
        clippy::too_many_arguments,
        reason = "every field of a new session is required"
    )]
    #[must_use]
    pub fn new(
        id: SessionId,
        tenant: TenantId,
        agent: AgentId,
        instance: InstanceId,
        key: SessionKey,
        team: Option<TeamId>,
        config: SessionConfig,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            tenant,
            agent,
            instance,
            key,
            team,
            config,
            state: SessionState::Created,
            active_task: None,
            deadline: None,
            last_checkpoint: None,
            history: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Whether the transition table allows `command` in the current state. For `Expire` this
    /// says whether the state has a deadline, not whether it has passed.
    #[must_use]
    pub fn can(&self, command: &SessionCommand) -> bool {
        self.target(command).is_some()
    }

    /// Applies `command` at `now` and returns the event to publish. The caller persists the
    /// record after each call ([`SessionRepository::update`](crate::SessionRepository::update)
    /// accepts exactly one version step).
    ///
    /// # Errors
    /// [`LifecycleError::IllegalTransition`] for a command the table does not allow from the
    /// current state (every command from a terminal state); [`LifecycleError::NotDue`] for
    /// `Expire` before the deadline; [`LifecycleError::Invalid`] for a `Migrate` to where the
    /// session already is. The record is unchanged after an error.
    pub fn apply(
        &mut self,
        command: SessionCommand,
        now: OffsetDateTime,
        timeouts: &SessionTimeouts,
    ) -> Result<Event, LifecycleError> {
        let from = self.state;
        let to = self
            .target(&command)
            .ok_or_else(|| LifecycleError::illegal("session", from, command.name()))?;
        self.check(&command, now)?;
        let reason = self.reason(&command);
        match command {
            SessionCommand::StartRun { task } => self.active_task = Some(task),
            SessionCommand::FinishRun | SessionCommand::Complete => self.active_task = None,
            SessionCommand::Checkpoint { checkpoint } => self.last_checkpoint = Some(checkpoint),
            SessionCommand::Migrate {
                agent,
                instance,
                key,
            } => {
                self.agent = agent;
                self.instance = instance;
                self.key = key;
            }
            _ => {}
        }
        if to.is_terminal() {
            self.active_task = None;
        }
        if to != from {
            self.deadline = timeouts.deadline(to, now);
        }
        self.state = to;
        self.history.push(StateChange {
            from,
            to,
            at: now,
            reason: reason.clone(),
        });
        self.version += 1;
        self.updated_at = now;
        Ok(self.event(from, reason, now))
    }

    /// Applies `Expire` if the current state has a deadline that `now` has reached; `None`
    /// (and no change) otherwise.
    pub fn expire_if_due(
        &mut self,
        now: OffsetDateTime,
        timeouts: &SessionTimeouts,
    ) -> Option<Event> {
        if self.is_due(now) {
            self.apply(SessionCommand::Expire, now, timeouts).ok()
        } else {
            None
        }
    }

    /// Whether the current state is not terminal and its deadline has been reached at `now`.
    #[must_use]
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        !self.state.is_terminal() && self.deadline.is_some_and(|d| d <= now)
    }

    /// The state `command` leads to from the current state, if the table has that edge.
    fn target(&self, command: &SessionCommand) -> Option<SessionState> {
        use SessionCommand as C;
        use SessionState as S;
        if self.state.is_terminal() {
            return None;
        }
        match (command, self.state) {
            (C::Initialize, S::Created) => Some(S::Initializing),
            (C::Ready, S::Initializing) => Some(S::Ready),
            (C::StartRun { .. }, S::Ready) => Some(S::Running),
            (C::FinishRun, S::Running) => Some(S::Ready),
            (C::FinishRun, S::Paused) if self.active_task.is_some() => Some(S::Paused),
            (C::Complete, S::Ready | S::Running) => Some(S::Completing),
            (C::Close, S::Completing) => Some(S::Completed),
            (C::Pause, S::Ready | S::Running) => Some(S::Paused),
            (C::Resume, S::Paused) => Some(self.working_state()),
            (C::Checkpoint { .. }, state @ (S::Ready | S::Running | S::Paused)) => Some(state),
            (C::Migrate { .. }, S::Ready | S::Running | S::Paused) => Some(S::Migrating),
            (C::Migrated, S::Migrating) => Some(if self.paused_before_migrating() {
                S::Paused
            } else {
                self.working_state()
            }),
            (C::Fail { .. }, _) => Some(S::Failed),
            (C::Cancel { .. }, _) => Some(S::Cancelled),
            (C::Error { .. }, _) => Some(S::Error),
            (C::Expire, _) if self.deadline.is_some() => Some(S::Timeout),
            _ => None,
        }
    }

    /// Checks what the table cannot: that a timeout is due, that a migration moves.
    fn check(&self, command: &SessionCommand, now: OffsetDateTime) -> Result<(), LifecycleError> {
        match command {
            SessionCommand::Expire => match self.deadline {
                Some(deadline) if deadline > now => Err(LifecycleError::NotDue {
                    entity: "session",
                    from: self.state.to_string(),
                    deadline,
                }),
                _ => Ok(()),
            },
            SessionCommand::Migrate {
                agent,
                instance,
                key,
            } if *agent == self.agent && *instance == self.instance && *key == self.key => Err(
                LifecycleError::invalid("migration target", "the session is already there"),
            ),
            _ => Ok(()),
        }
    }

    /// Where a session goes back to work: running if a run is in flight, else ready.
    fn working_state(&self) -> SessionState {
        if self.active_task.is_some() {
            SessionState::Running
        } else {
            SessionState::Ready
        }
    }

    /// Whether the migration in progress started from paused (the hold survives the move).
    fn paused_before_migrating(&self) -> bool {
        self.history
            .iter()
            .rev()
            .find(|c| c.to == SessionState::Migrating)
            .is_some_and(|c| c.from == SessionState::Paused)
    }

    /// The reason recorded in history and in the event.
    fn reason(&self, command: &SessionCommand) -> Option<String> {
        match command {
            SessionCommand::StartRun { task } => Some(format!("task {task} started")),
            SessionCommand::FinishRun => self.active_task.map(|t| format!("task {t} finished")),
            SessionCommand::Checkpoint { checkpoint } => Some(format!("checkpoint {checkpoint}")),
            SessionCommand::Migrate {
                agent, instance, ..
            } => Some(format!("migrating to agent {agent} on instance {instance}")),
            SessionCommand::Fail { reason }
            | SessionCommand::Cancel { reason }
            | SessionCommand::Error { reason } => Some(reason.clone()),
            SessionCommand::Expire => Some(format!("{} timed out", self.state)),
            SessionCommand::Initialize
            | SessionCommand::Ready
            | SessionCommand::Complete
            | SessionCommand::Close
            | SessionCommand::Pause
            | SessionCommand::Resume
            | SessionCommand::Migrated => None,
        }
    }

    /// The event of the change just made from `from`.
    fn event(&self, from: SessionState, reason: Option<String>, now: OffsetDateTime) -> Event {
        let kind = match (from, self.state) {
            (SessionState::Initializing, SessionState::Ready) => SessionEventKind::Opened,
            (_, SessionState::Error) => SessionEventKind::Error,
            (_, to) if to.is_terminal() => SessionEventKind::Closed,
            _ => SessionEventKind::StateChange,
        };
        let data = SessionEvent {
            id: self.id,
            state: self.state,
            previous: Some(from),
            agent_id: Some(self.agent.clone()),
            reason,
        };
        Event::new(
            Some(self.tenant.clone()),
            now,
            EventBody::Session(kind, data),
        )
    }
}

#[cfg(test)]
mod tests;
