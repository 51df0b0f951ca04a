//! Agent status and its transitions, as [`AgentRecord::set_status`] (whose documentation holds
//! the table).

use godel_types::{
    AgentEvent, AgentEventKind, AgentId, AgentStatus, Capabilities, Event, EventBody, InstanceId,
};
use time::OffsetDateTime;

use crate::error::LifecycleError;
use crate::records::AgentRecord;

impl AgentRecord {
    /// A newly registered agent, idle.
    #[must_use]
    pub fn new(
        id: AgentId,
        instance: InstanceId,
        gateway_agent: impl Into<String>,
        capabilities: Capabilities,
        max_capacity: u32,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            instance,
            gateway_agent: gateway_agent.into(),
            capabilities,
            max_capacity,
            status: AgentStatus::Idle,
            registered_at: now,
            updated_at: now,
        }
    }

    /// The status a connected, healthy agent has with `load` tasks: idle at zero, else busy.
    #[must_use]
    pub fn status_for_load(load: u32) -> AgentStatus {
        if load == 0 {
            AgentStatus::Idle
        } else {
            AgentStatus::Busy
        }
    }

    /// Whether the table allows going from the current status to `to` (or `to` is the
    /// current status).
    #[must_use]
    pub fn can_become(&self, to: AgentStatus) -> bool {
        use AgentStatus as S;
        match (self.status, to) {
            (from, to) if from == to => true,
            (S::Offline | S::Error, S::Busy) => false,
            _ => true,
        }
    }

    /// Moves the agent to status `to` at `now`, with `load` tasks running, and returns the
    /// event to publish; `Ok(None)` when it already has that status.
    ///
    /// | from | to | when | event |
    /// | --- | --- | --- | --- |
    /// | offline | idle | its instance is reachable again | `agent.connected` |
    /// | idle | busy | its load rose above zero | `agent.status` |
    /// | busy | idle | its load fell to zero | `agent.status` |
    /// | idle, busy, error | offline | its instance was lost or it was deregistered | `agent.disconnected` |
    /// | idle, busy, offline | error | it is reachable but failing | `agent.status` (from offline: `agent.connected`) |
    /// | error | idle | it recovered | `agent.status` |
    ///
    /// Offline or in error, an agent never becomes busy directly: it comes back idle, then takes
    /// work. Setting the status it already has changes nothing and emits nothing. Idle and busy
    /// must agree with the load ([`AgentRecord::status_for_load`]). A new agent starts idle: agents
    /// are registered when a healthy instance reports them.
    ///
    /// Agents serve every tenant, so their events carry no tenant. The record does not keep the
    /// load (the scheduler's ledger does): callers pass it, and it is reported in the event.
    ///
    /// # Errors
    /// [`LifecycleError::IllegalTransition`] for offline or error to busy;
    /// [`LifecycleError::Invalid`] when idle or busy disagrees with `load`. The record is
    /// unchanged after an error.
    pub fn set_status(
        &mut self,
        to: AgentStatus,
        load: u32,
        now: OffsetDateTime,
    ) -> Result<Option<Event>, LifecycleError> {
        if !self.can_become(to) {
            return Err(LifecycleError::illegal(
                "agent",
                self.status,
                format_args!("become {to}"),
            ));
        }
        if matches!(to, AgentStatus::Idle | AgentStatus::Busy) && Self::status_for_load(load) != to
        {
            return Err(LifecycleError::invalid(
                "agent load",
                format!("an agent with load {load} cannot be {to}"),
            ));
        }
        let from = self.status;
        if from == to {
            return Ok(None);
        }
        let kind = if from == AgentStatus::Offline {
            AgentEventKind::Connected
        } else if to == AgentStatus::Offline {
            AgentEventKind::Disconnected
        } else {
            AgentEventKind::Status
        };
        self.status = to;
        self.updated_at = now;
        Ok(Some(self.event(kind, load, now)))
    }

    /// An `agent.*` event describing the agent now, with `load` tasks running (e.g.
    /// `agent.load_change` when a task is assigned or released).
    #[must_use]
    pub fn event(&self, kind: AgentEventKind, load: u32, now: OffsetDateTime) -> Event {
        let data = AgentEvent {
            id: self.id.clone(),
            instance_id: self.instance,
            status: self.status,
            current_load: load,
            max_capacity: self.max_capacity,
        };
        Event::new(None, now, EventBody::Agent(kind, data))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);
    const T1: OffsetDateTime = datetime!(2026-01-01 0:01 UTC);

    fn agent() -> AgentRecord {
        AgentRecord::new(
            AgentId::parse("a1").expect("agent"),
            InstanceId::from_u128(1),
            "main",
            Capabilities::none(),
            4,
            T0,
        )
    }

    fn kind_and_data(event: &Event) -> (AgentEventKind, &AgentEvent) {
        match &event.body {
            EventBody::Agent(kind, data) => (*kind, data),
            other => panic!("not an agent event: {other:?}"),
        }
    }

    #[test]
    fn a_new_agent_is_idle() {
        let a = agent();
        assert_eq!(a.status, AgentStatus::Idle);
        assert_eq!((a.registered_at, a.updated_at), (T0, T0));
        assert_eq!(a.gateway_agent, "main");
    }

    #[test]
    fn load_moves_an_agent_between_idle_and_busy() {
        let mut a = agent();
        let event = a
            .set_status(AgentRecord::status_for_load(2), 2, T1)
            .expect("legal")
            .expect("changed");
        let (kind, data) = kind_and_data(&event);
        assert_eq!(kind, AgentEventKind::Status);
        assert_eq!(
            (data.status, data.current_load, data.max_capacity),
            (AgentStatus::Busy, 2, 4)
        );
        assert_eq!(event.tenant, None);
        assert_eq!(a.updated_at, T1);
        assert_eq!(a.set_status(AgentStatus::Busy, 3, T1), Ok(None));
        assert!(
            a.set_status(AgentStatus::Idle, 0, T1)
                .expect("legal")
                .is_some()
        );
    }

    #[test]
    fn losing_and_regaining_the_instance_disconnects_and_connects() {
        let mut a = agent();
        let event = a
            .set_status(AgentStatus::Offline, 0, T1)
            .expect("legal")
            .expect("changed");
        assert_eq!(kind_and_data(&event).0, AgentEventKind::Disconnected);
        let before = a.clone();
        let err = a
            .set_status(AgentStatus::Busy, 1, T1)
            .expect_err("offline to busy");
        assert_eq!(err.to_string(), "agent cannot become busy while offline");
        assert_eq!(a, before);
        let event = a
            .set_status(AgentStatus::Idle, 0, T1)
            .expect("legal")
            .expect("changed");
        assert_eq!(kind_and_data(&event).0, AgentEventKind::Connected);
    }

    #[test]
    fn an_agent_in_error_recovers_idle_or_goes_offline_but_never_busy() {
        let mut a = agent();
        a.set_status(AgentStatus::Busy, 1, T1).expect("busy");
        let event = a
            .set_status(AgentStatus::Error, 1, T1)
            .expect("legal")
            .expect("changed");
        assert_eq!(kind_and_data(&event).0, AgentEventKind::Status);
        assert!(!a.can_become(AgentStatus::Busy));
        assert!(a.set_status(AgentStatus::Busy, 1, T1).is_err());
        let mut offline = a.clone();
        let event = offline
            .set_status(AgentStatus::Offline, 0, T1)
            .expect("ok")
            .expect("event");
        assert_eq!(kind_and_data(&event).0, AgentEventKind::Disconnected);
        let event = a
            .set_status(AgentStatus::Idle, 0, T1)
            .expect("ok")
            .expect("event");
        assert_eq!(kind_and_data(&event).0, AgentEventKind::Status);
    }

    #[test]
    fn idle_and_busy_must_agree_with_the_load() {
        let mut a = agent();
        let before = a.clone();
        let err = a
            .set_status(AgentStatus::Busy, 0, T1)
            .expect_err("busy at zero");
        assert!(matches!(err, LifecycleError::Invalid { .. }), "{err}");
        assert!(a.set_status(AgentStatus::Idle, 1, T1).is_err());
        assert_eq!(a, before);
    }
}
