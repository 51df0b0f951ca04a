//! The [`EventLog`] cases.

use std::collections::BTreeSet;

use godel_types::{
    AgentId, Event, EventBody, EventId, EventName, SessionEvent, SessionEventKind, SessionId,
    SessionState, TaskEventKind, TaskId,
};

use super::{Factory, event, t0, tenant};
use crate::repository::{EventLog, EventQuery};

fn ids(events: &[Event]) -> Vec<EventId> {
    events.iter().map(|e| e.id).collect()
}

fn eid(n: u128) -> EventId {
    EventId::from_u128(n)
}

/// A `session.opened` event `id` of `tenant` (about no task).
fn session_opened(id: u128, tenant_name: &str) -> Event {
    Event {
        id: eid(id),
        tenant: Some(tenant(tenant_name)),
        at: t0(),
        body: EventBody::Session(
            SessionEventKind::Opened,
            SessionEvent {
                id: SessionId::from_u128(1),
                state: SessionState::Ready,
                previous: Some(SessionState::Initializing),
                agent_id: Some(AgentId::parse("a1").expect("agent")),
                reason: None,
            },
        ),
    }
}

/// Events come back as appended, ordered by id whatever the order of appends.
pub async fn appended_events_list_in_id_order<L: EventLog + ?Sized>(factory: &impl Factory<L>) {
    let log = factory.create().await;
    let e3 = event(3, "acme", 1, TaskEventKind::Completed);
    let e1 = event(1, "acme", 1, TaskEventKind::Created);
    let e2 = session_opened(2, "acme");
    log.append(&[e3.clone(), e1.clone()]).await.expect("append");
    log.append(std::slice::from_ref(&e2)).await.expect("append");
    let listed = log
        .list(&EventQuery::default(), None, 10)
        .await
        .expect("list");
    assert_eq!(listed, vec![e1, e2, e3]);
}

/// Appending an id already stored is ignored (a retried batch does not duplicate), and the
/// stored event is kept; the new events of the batch are stored.
pub async fn appending_a_stored_id_again_is_ignored<L: EventLog + ?Sized>(
    factory: &impl Factory<L>,
) {
    let log = factory.create().await;
    let batch = [
        event(1, "acme", 1, TaskEventKind::Created),
        event(2, "acme", 1, TaskEventKind::Assigned),
    ];
    log.append(&batch).await.expect("append");
    log.append(&batch).await.expect("retried batch");
    let mut changed = event(2, "acme", 1, TaskEventKind::Failed);
    changed.tenant = Some(tenant("globex"));
    let e3 = event(3, "acme", 1, TaskEventKind::Started);
    log.append(&[changed, e3.clone()])
        .await
        .expect("overlapping batch");
    let listed = log
        .list(&EventQuery::default(), None, 10)
        .await
        .expect("list");
    assert_eq!(listed, vec![batch[0].clone(), batch[1].clone(), e3]);
}

/// A query returns exactly the events matching its tenant, task and names.
pub async fn query_filters_by_tenant_task_and_name<L: EventLog + ?Sized>(
    factory: &impl Factory<L>,
) {
    let log = factory.create().await;
    log.append(&[
        event(1, "acme", 1, TaskEventKind::Created),
        event(2, "acme", 2, TaskEventKind::Created),
        event(3, "globex", 1, TaskEventKind::Created),
        event(4, "acme", 1, TaskEventKind::Completed),
        session_opened(5, "acme"),
    ])
    .await
    .expect("append");
    let created = EventName::Task(TaskEventKind::Created);
    let opened = EventName::Session(SessionEventKind::Opened);
    let cases = [
        (
            EventQuery {
                tenant: Some(tenant("acme")),
                ..EventQuery::default()
            },
            vec![eid(1), eid(2), eid(4), eid(5)],
        ),
        (
            EventQuery {
                task: Some(TaskId::from_u128(1)),
                ..EventQuery::default()
            },
            vec![eid(1), eid(3), eid(4)],
        ),
        (
            EventQuery {
                names: vec![created, opened],
                ..EventQuery::default()
            },
            vec![eid(1), eid(2), eid(3), eid(5)],
        ),
        (
            EventQuery {
                tenant: Some(tenant("acme")),
                task: Some(TaskId::from_u128(1)),
                names: vec![created],
            },
            vec![eid(1)],
        ),
    ];
    for (query, expected) in cases {
        let listed = log.list(&query, None, 100).await.expect("list");
        assert!(listed.iter().all(|e| query.matches(e)), "{query:?}");
        assert_eq!(ids(&listed), expected, "{query:?}");
    }
}

/// Paging with `after` visits every matching event once, in id order.
pub async fn pages_without_gaps_or_repeats<L: EventLog + ?Sized>(factory: &impl Factory<L>) {
    let log = factory.create().await;
    let all: Vec<_> = (1..=11)
        .map(|n| {
            let tenant_name = if n % 4 == 0 { "globex" } else { "acme" };
            event(n, tenant_name, n, TaskEventKind::Created)
        })
        .collect();
    for chunk in all.chunks(3).rev() {
        log.append(chunk).await.expect("append");
    }
    let query = EventQuery {
        tenant: Some(tenant("acme")),
        ..EventQuery::default()
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = log.list(&query, after, 3).await.expect("page");
        assert!(page.len() <= 3, "a page holds at most `limit` events");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(ids(&page));
    }
    let expected: Vec<_> = [1, 2, 3, 5, 6, 7, 9, 10, 11].map(eid).to_vec();
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), seen.len());
}

/// An empty batch stores nothing and a zero limit lists nothing; neither is an error.
pub async fn empty_batch_and_zero_limit_are_harmless<L: EventLog + ?Sized>(
    factory: &impl Factory<L>,
) {
    let log = factory.create().await;
    log.append(&[]).await.expect("empty batch");
    assert!(
        log.list(&EventQuery::default(), None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    log.append(&[event(1, "acme", 1, TaskEventKind::Created)])
        .await
        .expect("append");
    assert!(
        log.list(&EventQuery::default(), None, 0)
            .await
            .expect("list")
            .is_empty()
    );
    let after_last = log
        .list(&EventQuery::default(), Some(eid(1)), 10)
        .await
        .expect("list");
    assert!(after_last.is_empty());
}
