//! The domain events: every transition in Godel is published as one of these.
//!
//! JSON form (stable; the WebSocket stream and the audit log use it):
//! `{"id": "<uuid>", "event": "task.completed", "tenant_id": "acme", "timestamp": "<rfc3339>",
//! "data": {...}}`. For `task.*` events `data.id` is the task id, for `agent.*` the agent id, and
//! so on: `data` describes the resource the event is about plus the fields of that event.

use std::fmt;
use std::str::FromStr;

use godel_queue::{AgentId, ParseError, Priority, TaskId, TaskStatus, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{EventId, InstanceId, SessionId, TeamId};
use crate::state::{AgentStatus, InstanceHealth, SessionState};

/// One domain event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event's own id (time-ordered).
    pub id: EventId,
    /// The tenant it belongs to; `None` for fleet-wide events (instances, system).
    #[serde(rename = "tenant_id")]
    pub tenant: Option<TenantId>,
    /// When it happened.
    #[serde(rename = "timestamp", with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// An event with a fresh id.
    #[must_use]
    pub fn new(tenant: Option<TenantId>, at: OffsetDateTime, body: EventBody) -> Self {
        Self {
            id: EventId::generate(),
            tenant,
            at,
            body,
        }
    }

    /// The event's name, e.g. `task.completed`.
    #[must_use]
    pub fn name(&self) -> EventName {
        self.body.name()
    }

    /// The task this event is about, if it is a `task.*` event.
    #[must_use]
    pub fn task_id(&self) -> Option<TaskId> {
        match &self.body {
            EventBody::Task(_, t) => Some(t.id),
            _ => None,
        }
    }
}

/// What happened, with its data. Serialized as `"event": <name>, "data": {...}`.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// A `task.*` event.
    Task(TaskEventKind, TaskEvent),
    /// An `agent.*` event.
    Agent(AgentEventKind, AgentEvent),
    /// A `session.*` event.
    Session(SessionEventKind, SessionEvent),
    /// An `instance.*` event.
    Instance(InstanceEventKind, InstanceEvent),
    /// A `system.*` event.
    System(SystemEventKind, SystemEvent),
}

/// Declares the event names of one family and their text.
macro_rules! kinds {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every kind of this family.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            /// The full event name, e.g. `task.created`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }
    };
}

kinds!(
    /// The `task.*` events.
    TaskEventKind {
        /// Accepted and queued.
        Created => "task.created",
        /// Claimed by an agent under a lease.
        Assigned => "task.assigned",
        /// Its run started on a gateway.
        Started => "task.started",
        /// Its run reported progress.
        Progress => "task.progress",
        /// Finished successfully.
        Completed => "task.completed",
        /// An attempt failed.
        Failed => "task.failed",
        /// Cancelled.
        Cancelled => "task.cancelled",
        /// Put back in the queue for another attempt (retry, lease expiry, failover, replay).
        Retried => "task.retried",
        /// Moved to the dead letter queue.
        DeadLettered => "task.dead_lettered",
    }
);
kinds!(
    /// The `agent.*` events.
    AgentEventKind {
        /// Registered or reachable again.
        Connected => "agent.connected",
        /// Deregistered or unreachable.
        Disconnected => "agent.disconnected",
        /// Its status changed.
        Status => "agent.status",
        /// Its load changed.
        LoadChange => "agent.load_change",
    }
);
kinds!(
    /// The `session.*` events.
    SessionEventKind {
        /// Created.
        Opened => "session.opened",
        /// Moved to another non-terminal state.
        StateChange => "session.state_change",
        /// Reached a terminal state.
        Closed => "session.closed",
        /// Hit an error.
        Error => "session.error",
    }
);
kinds!(
    /// The `instance.*` events.
    InstanceEventKind {
        /// Joined the fleet.
        Registered => "instance.registered",
        /// Its health changed.
        HealthChange => "instance.health_change",
        /// Left the fleet.
        Deregistered => "instance.deregistered",
    }
);
kinds!(
    /// The `system.*` events.
    SystemEventKind {
        /// Configuration changed.
        ConfigChange => "system.config_change",
        /// Maintenance started or ended (e.g. draining for shutdown).
        Maintenance => "system.maintenance",
        /// Something needs an operator's attention.
        Alert => "system.alert",
    }
);

/// Any event name, for filters and pattern matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventName {
    /// `task.*`
    Task(TaskEventKind),
    /// `agent.*`
    Agent(AgentEventKind),
    /// `session.*`
    Session(SessionEventKind),
    /// `instance.*`
    Instance(InstanceEventKind),
    /// `system.*`
    System(SystemEventKind),
}

impl EventName {
    /// Every event name of the contract.
    pub fn all() -> impl Iterator<Item = Self> {
        let task = TaskEventKind::ALL.iter().map(|k| Self::Task(*k));
        let agent = AgentEventKind::ALL.iter().map(|k| Self::Agent(*k));
        let session = SessionEventKind::ALL.iter().map(|k| Self::Session(*k));
        let instance = InstanceEventKind::ALL.iter().map(|k| Self::Instance(*k));
        let system = SystemEventKind::ALL.iter().map(|k| Self::System(*k));
        task.chain(agent)
            .chain(session)
            .chain(instance)
            .chain(system)
    }

    /// The name as text, e.g. `task.created`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Task(k) => k.as_str(),
            Self::Agent(k) => k.as_str(),
            Self::Session(k) => k.as_str(),
            Self::Instance(k) => k.as_str(),
            Self::System(k) => k.as_str(),
        }
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventName {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::all()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| ParseError::new("event name", s, "not an event of the contract"))
    }
}

impl Serialize for EventName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl EventBody {
    /// The event's name.
    #[must_use]
    pub fn name(&self) -> EventName {
        match self {
            Self::Task(k, _) => EventName::Task(*k),
            Self::Agent(k, _) => EventName::Agent(*k),
            Self::Session(k, _) => EventName::Session(*k),
            Self::Instance(k, _) => EventName::Instance(*k),
            Self::System(k, _) => EventName::System(*k),
        }
    }
}

/// The wire shape of [`EventBody`]: `{"event": name, "data": {...}}`.
#[derive(Serialize, Deserialize)]
struct WireBody {
    event: EventName,
    data: serde_json::Value,
}

impl Serialize for EventBody {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let data = match self {
            Self::Task(_, d) => serde_json::to_value(d),
            Self::Agent(_, d) => serde_json::to_value(d),
            Self::Session(_, d) => serde_json::to_value(d),
            Self::Instance(_, d) => serde_json::to_value(d),
            Self::System(_, d) => serde_json::to_value(d),
        }
        .map_err(S::Error::custom)?;
        WireBody {
            event: self.name(),
            data,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for EventBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let wire = WireBody::deserialize(d)?;
        let body = match wire.event {
            EventName::Task(k) => serde_json::from_value(wire.data).map(|d| Self::Task(k, d)),
            EventName::Agent(k) => serde_json::from_value(wire.data).map(|d| Self::Agent(k, d)),
            EventName::Session(k) => serde_json::from_value(wire.data).map(|d| Self::Session(k, d)),
            EventName::Instance(k) => {
                serde_json::from_value(wire.data).map(|d| Self::Instance(k, d))
            }
            EventName::System(k) => serde_json::from_value(wire.data).map(|d| Self::System(k, d)),
        };
        body.map_err(D::Error::custom)
    }
}

/// Data of a `task.*` event: the task's state after the event, plus the event's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// The task.
    pub id: TaskId,
    /// Its status after the event.
    pub status: TaskStatus,
    /// Its priority.
    pub priority: Priority,
    /// Attempts counted so far.
    pub attempt_count: u32,
    /// The agent involved (`task.assigned`, `task.started`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// The instance involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<InstanceId>,
    /// The session the run is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    /// The team the task belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// The gateway's run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Why (failure, cancel reason) or what (progress text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it is due again (`task.retried`, `task.failed` with a retry).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub retry_at: Option<OffsetDateTime>,
}

impl TaskEvent {
    /// Data with only the always-present fields set.
    #[must_use]
    pub fn new(id: TaskId, status: TaskStatus, priority: Priority, attempt_count: u32) -> Self {
        Self {
            id,
            status,
            priority,
            attempt_count,
            agent_id: None,
            instance_id: None,
            session_id: None,
            team_id: None,
            run_id: None,
            message: None,
            retry_at: None,
        }
    }
}

/// Data of an `agent.*` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEvent {
    /// The agent.
    pub id: AgentId,
    /// The instance it runs on.
    pub instance_id: InstanceId,
    /// Its status after the event.
    pub status: AgentStatus,
    /// Tasks it runs now.
    pub current_load: u32,
    /// Tasks it can run at once.
    pub max_capacity: u32,
}

/// Data of a `session.*` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEvent {
    /// The session.
    pub id: SessionId,
    /// Its state after the event.
    pub state: SessionState,
    /// Its state before, for a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<SessionState>,
    /// The agent it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Why, for errors and terminal states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Data of an `instance.*` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceEvent {
    /// The instance.
    pub id: InstanceId,
    /// Its gateway endpoint.
    pub endpoint: String,
    /// Its health after the event.
    pub health: InstanceHealth,
    /// Its health before, for a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<InstanceHealth>,
    /// Why, for a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Data of a `system.*` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemEvent {
    /// What happened, for people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn task_completed() -> Event {
        let mut data = TaskEvent::new(
            TaskId::from_u128(7),
            TaskStatus::Completed,
            Priority::High,
            1,
        );
        data.agent_id = Some(AgentId::parse("a1").unwrap());
        Event {
            id: EventId::from_u128(1),
            tenant: Some(TenantId::parse("acme").unwrap()),
            at: datetime!(2026-01-01 0:00 UTC),
            body: EventBody::Task(TaskEventKind::Completed, data),
        }
    }

    #[test]
    fn an_event_has_the_stable_json_form_of_the_contract() {
        let json = serde_json::to_value(task_completed()).unwrap();
        assert_eq!(
            json,
            json!({
                "id": "00000000-0000-0000-0000-000000000001",
                "tenant_id": "acme",
                "timestamp": "2026-01-01T00:00:00Z",
                "event": "task.completed",
                "data": {
                    "id": "00000000-0000-0000-0000-000000000007",
                    "status": "completed",
                    "priority": "high",
                    "attempt_count": 1,
                    "agent_id": "a1"
                }
            })
        );
    }

    #[test]
    fn events_round_trip_through_json() {
        let event = task_completed();
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
    }

    #[test]
    fn every_name_of_the_contract_parses_and_no_other() {
        let names: Vec<_> = EventName::all().map(EventName::as_str).collect();
        assert_eq!(names.len(), 9 + 4 + 4 + 3 + 3);
        for name in &names {
            assert_eq!(name.parse::<EventName>().unwrap().as_str(), *name);
        }
        assert!("task.exploded".parse::<EventName>().is_err());
    }

    #[test]
    fn an_event_whose_data_does_not_fit_its_name_is_refused() {
        let bad = json!({
            "id": "00000000-0000-0000-0000-000000000001",
            "tenant_id": null,
            "timestamp": "2026-01-01T00:00:00Z",
            "event": "agent.status",
            "data": {"message": "not an agent"}
        });
        assert!(serde_json::from_value::<Event>(bad).is_err());
    }
}
