//! The [`SessionRepository`] cases.

use std::collections::BTreeSet;
use std::time::Duration;

use godel_types::{AgentId, SessionId, SessionState, TaskId, TeamId};

use super::{Factory, instance, session, tenant};
use crate::records::SessionRecord;
use crate::repository::{RepositoryError, SessionFilter, SessionRepository};
use crate::session::{SessionCommand, SessionTimeouts};

/// `record` after `command`, a minute after its last change.
fn step(record: &SessionRecord, command: SessionCommand) -> SessionRecord {
    let mut next = record.clone();
    let now = record.updated_at + Duration::from_secs(60);
    next.apply(command, now, &SessionTimeouts::default())
        .expect("legal transition");
    next
}

/// Session `n` of `tenant`, opened and running a task (so every optional field is set).
fn busy_session(tenant_name: &str, n: u128) -> SessionRecord {
    let mut s = session(tenant_name, n);
    s.team = Some(TeamId::from_u128(7));
    s.config.profile = Some("coder".into());
    s.config.env_vars.insert("RUST_LOG".into(), "debug".into());
    let s = step(&s, SessionCommand::Initialize);
    let s = step(&s, SessionCommand::Ready);
    let s = step(
        &s,
        SessionCommand::Checkpoint {
            checkpoint: godel_types::CheckpointId::from_u128(3),
        },
    );
    let s = step(
        &s,
        SessionCommand::StartRun {
            task: TaskId::from_u128(9),
        },
    );
    step(&s, SessionCommand::Pause)
}

fn assert_not_found(result: Result<impl std::fmt::Debug, RepositoryError>, what: &str) {
    match result {
        Err(RepositoryError::NotFound { .. }) => {}
        other => panic!("{what}: expected not found, got {other:?}"),
    }
}

fn assert_conflict(result: Result<(), RepositoryError>, what: &str) {
    match result {
        Err(RepositoryError::Conflict { .. }) => {}
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

/// What `insert` stores (every field, the version as given), `get` returns unchanged.
pub async fn inserted_session_reads_back<R: SessionRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let fresh = session("acme", 1);
    let busy = busy_session("acme", 2);
    assert_eq!(busy.version, 5);
    repo.insert(fresh.clone()).await.expect("insert new");
    repo.insert(busy.clone())
        .await
        .expect("insert with history");
    assert_eq!(
        repo.get(&tenant("acme"), fresh.id).await.expect("get"),
        fresh
    );
    assert_eq!(repo.get(&tenant("acme"), busy.id).await.expect("get"), busy);
}

/// Inserting a taken id is `AlreadyExists`, and keeps the stored session.
pub async fn duplicate_session_is_refused<R: SessionRepository + ?Sized>(
    factory: &impl Factory<R>,
) {
    let repo = factory.create().await;
    let s = session("acme", 1);
    repo.insert(s.clone()).await.expect("insert");
    let err = repo
        .insert(busy_session("acme", 1))
        .await
        .expect_err("duplicate");
    assert!(
        matches!(err, RepositoryError::AlreadyExists { .. }),
        "{err}"
    );
    assert_eq!(repo.get(&tenant("acme"), s.id).await.expect("get"), s);
}

/// An unknown session, or one of another tenant, is `NotFound` for `get` and `update`.
pub async fn foreign_or_unknown_session_is_not_found<R: SessionRepository + ?Sized>(
    factory: &impl Factory<R>,
) {
    let repo = factory.create().await;
    let s = session("acme", 1);
    repo.insert(s.clone()).await.expect("insert");
    assert_not_found(
        repo.get(&tenant("globex"), s.id).await,
        "get of another tenant",
    );
    assert_not_found(
        repo.get(&tenant("acme"), SessionId::from_u128(2)).await,
        "get of an unknown id",
    );
    let mut foreign = step(&s, SessionCommand::Initialize);
    foreign.tenant = tenant("globex");
    assert_not_found(repo.update(&foreign).await, "update as another tenant");
    let unknown = step(&session("acme", 2), SessionCommand::Initialize);
    assert_not_found(repo.update(&unknown).await, "update of an unknown id");
    assert_eq!(repo.get(&tenant("acme"), s.id).await.expect("get"), s);
}

/// Each `update` must carry the stored version plus one, and then replaces the record.
pub async fn update_takes_exactly_the_next_version<R: SessionRepository + ?Sized>(
    factory: &impl Factory<R>,
) {
    let repo = factory.create().await;
    let mut s = session("acme", 1);
    repo.insert(s.clone()).await.expect("insert");
    for command in [
        SessionCommand::Initialize,
        SessionCommand::Ready,
        SessionCommand::StartRun {
            task: TaskId::from_u128(4),
        },
        SessionCommand::Migrate {
            agent: AgentId::parse("a2").expect("agent"),
            instance: instance(2),
            key: crate::SessionKey::new("agent:main:elsewhere"),
        },
    ] {
        s = step(&s, command);
        repo.update(&s).await.expect("update with the next version");
        assert_eq!(repo.get(&tenant("acme"), s.id).await.expect("get"), s);
    }
    let mut skipped = step(&s, SessionCommand::Migrated);
    skipped.version += 1;
    assert_conflict(repo.update(&skipped).await, "update skipping a version");
    assert_conflict(repo.update(&s).await, "update with the stored version");
    assert_eq!(repo.get(&tenant("acme"), s.id).await.expect("get"), s);
}

/// Of two writers working from the same copy, the second is refused and the first stands.
pub async fn stale_copy_is_refused<R: SessionRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let s = step(&session("acme", 1), SessionCommand::Initialize);
    repo.insert(s.clone()).await.expect("insert");
    let first = step(&s, SessionCommand::Ready);
    let second = step(
        &s,
        SessionCommand::Cancel {
            reason: "operator".into(),
        },
    );
    repo.update(&first).await.expect("first writer");
    assert_conflict(
        repo.update(&second).await,
        "second writer from the same copy",
    );
    let stored = repo.get(&tenant("acme"), s.id).await.expect("get");
    assert_eq!(stored, first, "the first change is not lost");
    assert_eq!(stored.state, SessionState::Ready);
}

/// `list` returns exactly the sessions matching every set field of the filter, in id order.
pub async fn list_filters_by_every_field<R: SessionRepository + ?Sized>(factory: &impl Factory<R>) {
    let repo = factory.create().await;
    let a2 = AgentId::parse("a2").expect("agent");
    let team = TeamId::from_u128(7);
    let mut on_a2 = step(&session("acme", 1), SessionCommand::Initialize);
    on_a2.agent = a2.clone();
    on_a2.instance = instance(2);
    let mut in_team = step(&session("acme", 2), SessionCommand::Initialize);
    in_team.team = Some(team);
    let closed = step(
        &session("acme", 3),
        SessionCommand::Fail {
            reason: "gone".into(),
        },
    );
    let foreign = session("globex", 4);
    for s in [&foreign, &closed, &in_team, &on_a2] {
        repo.insert(s.clone()).await.expect("insert");
    }
    let ids = |found: Vec<SessionRecord>| found.iter().map(|s| s.id).collect::<Vec<_>>();
    let id = SessionId::from_u128;
    let cases = [
        (SessionFilter::default(), vec![id(1), id(2), id(3), id(4)]),
        (
            SessionFilter {
                tenant: Some(tenant("acme")),
                ..SessionFilter::default()
            },
            vec![id(1), id(2), id(3)],
        ),
        (
            SessionFilter {
                agent: Some(a2),
                ..SessionFilter::default()
            },
            vec![id(1)],
        ),
        (
            SessionFilter {
                instance: Some(instance(1)),
                ..SessionFilter::default()
            },
            vec![id(2), id(3), id(4)],
        ),
        (
            SessionFilter {
                team: Some(team),
                ..SessionFilter::default()
            },
            vec![id(2)],
        ),
        (
            SessionFilter {
                states: vec![SessionState::Created, SessionState::Failed],
                ..SessionFilter::default()
            },
            vec![id(3), id(4)],
        ),
        (
            SessionFilter {
                tenant: Some(tenant("acme")),
                open_only: true,
                ..SessionFilter::default()
            },
            vec![id(1), id(2)],
        ),
    ];
    for (filter, expected) in cases {
        let found = repo.list(&filter, None, 100).await.expect("list");
        assert!(found.iter().all(|s| filter.matches(s)), "{filter:?}");
        assert_eq!(ids(found), expected, "{filter:?}");
    }
}

/// Paging with `after` visits every matching session once, in id order, whatever the
/// insertion order.
pub async fn list_pages_in_id_order_without_gaps<R: SessionRepository + ?Sized>(
    factory: &impl Factory<R>,
) {
    let repo = factory.create().await;
    let order = [5, 1, 9, 3, 7, 2, 8, 6, 4];
    for n in order {
        let tenant_name = if n % 3 == 0 { "globex" } else { "acme" };
        repo.insert(session(tenant_name, n)).await.expect("insert");
    }
    let filter = SessionFilter {
        tenant: Some(tenant("acme")),
        ..SessionFilter::default()
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = repo.list(&filter, after, 2).await.expect("page");
        assert!(page.len() <= 2, "a page holds at most `limit` sessions");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|s| s.id));
    }
    let expected: Vec<_> = [1, 2, 4, 5, 7, 8].map(SessionId::from_u128).to_vec();
    assert_eq!(seen, expected);
    let distinct: BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "no session is listed twice");
    let empty = repo.list(&filter, None, 0).await.expect("zero limit");
    assert!(empty.is_empty());
}
