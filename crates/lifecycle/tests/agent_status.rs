//! Property tests of agent status: random (status, load) requests against the table.

use std::time::Duration;

use godel_lifecycle::{AgentRecord, LifecycleError};
use godel_types::{AgentEventKind, AgentId, AgentStatus, Capabilities, EventBody, InstanceId};
use proptest::prelude::*;
use time::macros::datetime;

fn status() -> impl Strategy<Value = AgentStatus> {
    prop::sample::select(AgentStatus::ALL.to_vec())
}

/// Whether the table has an edge `from → to` (staying put included).
fn allowed(from: AgentStatus, to: AgentStatus) -> bool {
    use AgentStatus as S;
    !(from != to && to == S::Busy && matches!(from, S::Offline | S::Error))
}

/// Whether `load` agrees with status `to`.
fn consistent(to: AgentStatus, load: u32) -> bool {
    match to {
        AgentStatus::Idle => load == 0,
        AgentStatus::Busy => load > 0,
        AgentStatus::Offline | AgentStatus::Error => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_status_requests_follow_the_table(
        steps in prop::collection::vec((0u64..100, status(), 0u32..4), 1..50),
    ) {
        let mut now = datetime!(2026-01-01 0:00 UTC);
        let mut agent = AgentRecord::new(
            AgentId::parse("a1").expect("agent"),
            InstanceId::from_u128(1),
            "main",
            Capabilities::none(),
            3,
            now,
        );
        prop_assert_eq!(agent.status, AgentStatus::Idle);
        for (wait, to, load) in steps {
            now += Duration::from_secs(wait);
            let before = agent.clone();
            prop_assert_eq!(agent.can_become(to), allowed(before.status, to));
            match agent.set_status(to, load, now) {
                Ok(None) => {
                    prop_assert_eq!(before.status, to, "no event only when nothing changes");
                    prop_assert!(consistent(to, load));
                    prop_assert_eq!(&agent, &before);
                }
                Ok(Some(event)) => {
                    prop_assert!(allowed(before.status, to) && consistent(to, load));
                    prop_assert_ne!(before.status, to);
                    prop_assert_eq!(agent.status, to);
                    prop_assert_eq!(agent.updated_at, now);
                    prop_assert_eq!(&event.tenant, &None, "agents serve every tenant");
                    let EventBody::Agent(kind, data) = &event.body else {
                        return Err(TestCaseError::fail(format!("not an agent event: {event:?}")));
                    };
                    let expected_kind = if before.status == AgentStatus::Offline {
                        AgentEventKind::Connected
                    } else if to == AgentStatus::Offline {
                        AgentEventKind::Disconnected
                    } else {
                        AgentEventKind::Status
                    };
                    prop_assert_eq!(*kind, expected_kind);
                    prop_assert_eq!(data.status, to);
                    prop_assert_eq!(data.current_load, load);
                    prop_assert_eq!(&data.id, &agent.id);
                }
                Err(err) => {
                    prop_assert_eq!(&agent, &before, "a refusal changes nothing");
                    match err {
                        LifecycleError::IllegalTransition { .. } => {
                            prop_assert!(!allowed(before.status, to));
                        }
                        LifecycleError::Invalid { .. } => {
                            prop_assert!(allowed(before.status, to) && !consistent(to, load));
                        }
                        other => return Err(TestCaseError::fail(format!("unexpected {other}"))),
                    }
                }
            }
            prop_assert!(agent.status == AgentRecord::status_for_load(load)
                || matches!(agent.status, AgentStatus::Offline | AgentStatus::Error)
                || agent == before);
        }
    }
}
