//! Unit tests of the session state machine: each row of the table, the events, the deadlines.

use std::time::Duration;

use godel_types::{EventBody, SessionEventKind};
use time::macros::datetime;

use super::*;

const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

fn timeouts() -> SessionTimeouts {
    SessionTimeouts::default()
}

fn session() -> SessionRecord {
    SessionRecord::new(
        SessionId::from_u128(1),
        TenantId::parse("acme").expect("tenant"),
        AgentId::parse("a1").expect("agent"),
        InstanceId::from_u128(10),
        SessionKey::new("agent:main:godel-1"),
        None,
        SessionConfig::default(),
        T0,
    )
}

fn task(n: u128) -> TaskId {
    TaskId::from_u128(n)
}

fn migrate_to(agent: &str) -> SessionCommand {
    SessionCommand::Migrate {
        agent: AgentId::parse(agent).expect("agent"),
        instance: InstanceId::from_u128(20),
        key: SessionKey::new(format!("agent:main:godel-{agent}")),
    }
}

fn fail() -> SessionCommand {
    SessionCommand::Fail {
        reason: "boom".into(),
    }
}

/// A session taken through `commands` at `T0`, each expected to succeed.
fn after(commands: impl IntoIterator<Item = SessionCommand>) -> SessionRecord {
    let mut s = session();
    for c in commands {
        let name = c.name();
        s.apply(c, T0, &timeouts())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    s
}

fn ready() -> SessionRecord {
    after([SessionCommand::Initialize, SessionCommand::Ready])
}

fn running() -> SessionRecord {
    let mut s = ready();
    s.apply(SessionCommand::StartRun { task: task(7) }, T0, &timeouts())
        .expect("start run");
    s
}

fn kind(event: &Event) -> SessionEventKind {
    match &event.body {
        EventBody::Session(kind, _) => *kind,
        other => panic!("not a session event: {other:?}"),
    }
}

fn data(event: &Event) -> &SessionEvent {
    match &event.body {
        EventBody::Session(_, data) => data,
        other => panic!("not a session event: {other:?}"),
    }
}

#[test]
fn the_happy_path_opens_runs_and_closes_with_the_documented_events() {
    let mut s = session();
    let t = timeouts();
    let steps = [
        (
            SessionCommand::Initialize,
            SessionState::Initializing,
            SessionEventKind::StateChange,
        ),
        (
            SessionCommand::Ready,
            SessionState::Ready,
            SessionEventKind::Opened,
        ),
        (
            SessionCommand::StartRun { task: task(7) },
            SessionState::Running,
            SessionEventKind::StateChange,
        ),
        (
            SessionCommand::FinishRun,
            SessionState::Ready,
            SessionEventKind::StateChange,
        ),
        (
            SessionCommand::Complete,
            SessionState::Completing,
            SessionEventKind::StateChange,
        ),
        (
            SessionCommand::Close,
            SessionState::Completed,
            SessionEventKind::Closed,
        ),
    ];
    for (i, (command, state, event_kind)) in steps.into_iter().enumerate() {
        let before = s.state;
        let event = s.apply(command, T0, &t).expect("legal step");
        assert_eq!(s.state, state);
        assert_eq!(kind(&event), event_kind, "event entering {state}");
        assert_eq!(data(&event).state, state);
        assert_eq!(data(&event).previous, Some(before));
        assert_eq!(event.tenant, Some(s.tenant.clone()));
        assert_eq!(s.version, i as u64 + 1);
    }
    assert_eq!(s.history.len(), 6);
    assert_eq!(
        s.history[2].reason.as_deref(),
        Some(&*format!("task {} started", task(7)))
    );
    assert_eq!(s.active_task, None);
}

#[test]
fn start_run_sets_the_active_task_and_finish_run_clears_it() {
    let mut s = running();
    assert_eq!(s.active_task, Some(task(7)));
    s.apply(SessionCommand::FinishRun, T0, &timeouts())
        .expect("finish");
    assert_eq!((s.state, s.active_task), (SessionState::Ready, None));
}

#[test]
fn pausing_a_running_session_keeps_its_task_and_resume_returns_to_running() {
    let mut s = running();
    s.apply(SessionCommand::Pause, T0, &timeouts())
        .expect("pause");
    assert_eq!(
        (s.state, s.active_task),
        (SessionState::Paused, Some(task(7)))
    );
    assert_eq!(s.deadline, Some(T0 + Duration::from_secs(86_400)));
    s.apply(SessionCommand::Resume, T0, &timeouts())
        .expect("resume");
    assert_eq!(
        (s.state, s.active_task),
        (SessionState::Running, Some(task(7)))
    );
    assert_eq!(s.deadline, None);

    let mut idle = ready();
    idle.apply(SessionCommand::Pause, T0, &timeouts())
        .expect("pause");
    idle.apply(SessionCommand::Resume, T0, &timeouts())
        .expect("resume");
    assert_eq!(idle.state, SessionState::Ready);
}

#[test]
fn a_run_ending_while_paused_leaves_it_paused_without_a_task() {
    let mut s = running();
    s.apply(SessionCommand::Pause, T0, &timeouts())
        .expect("pause");
    let deadline = s.deadline;
    let later = T0 + Duration::from_secs(60);
    let event = s
        .apply(SessionCommand::FinishRun, later, &timeouts())
        .expect("finish");
    assert_eq!((s.state, s.active_task), (SessionState::Paused, None));
    assert_eq!(s.deadline, deadline, "the pause is not extended");
    assert_eq!(kind(&event), SessionEventKind::StateChange);
    assert!(!s.can(&SessionCommand::FinishRun), "no run left to finish");
    s.apply(SessionCommand::Resume, later, &timeouts())
        .expect("resume");
    assert_eq!(s.state, SessionState::Ready);
}

#[test]
fn a_checkpoint_keeps_state_and_deadline_and_is_recorded() {
    let t = SessionTimeouts {
        ready: Some(Duration::from_secs(600)),
        ..timeouts()
    };
    let mut s = session();
    s.apply(SessionCommand::Initialize, T0, &t).expect("init");
    s.apply(SessionCommand::Ready, T0, &t).expect("ready");
    let deadline = s.deadline;
    assert_eq!(deadline, Some(T0 + Duration::from_secs(600)));
    let cp = CheckpointId::from_u128(99);
    let later = T0 + Duration::from_secs(300);
    let event = s
        .apply(SessionCommand::Checkpoint { checkpoint: cp }, later, &t)
        .expect("cp");
    assert_eq!(s.state, SessionState::Ready);
    assert_eq!(s.deadline, deadline);
    assert_eq!(s.last_checkpoint, Some(cp));
    assert_eq!(kind(&event), SessionEventKind::StateChange);
    assert_eq!(data(&event).previous, Some(SessionState::Ready));
    assert_eq!(
        data(&event).reason.as_deref(),
        Some(&*format!("checkpoint {cp}"))
    );
    let last = s.history.last().expect("history");
    assert_eq!(
        (last.from, last.to, last.at),
        (SessionState::Ready, SessionState::Ready, later)
    );
}

#[test]
fn migrating_a_running_session_moves_it_and_resumes_its_run() {
    let mut s = running();
    let event = s.apply(migrate_to("a2"), T0, &timeouts()).expect("migrate");
    assert_eq!(s.state, SessionState::Migrating);
    assert_eq!(s.agent.as_str(), "a2");
    assert_eq!(s.instance, InstanceId::from_u128(20));
    assert_eq!(s.key.as_str(), "agent:main:godel-a2");
    assert_eq!(s.active_task, Some(task(7)));
    assert_eq!(s.deadline, Some(T0 + Duration::from_secs(300)));
    assert_eq!(
        data(&event).agent_id.as_ref().map(AgentId::as_str),
        Some("a2")
    );
    s.apply(SessionCommand::Migrated, T0, &timeouts())
        .expect("migrated");
    assert_eq!(s.state, SessionState::Running);
}

#[test]
fn a_paused_session_stays_paused_after_a_migration() {
    let mut s = after([
        SessionCommand::Initialize,
        SessionCommand::Ready,
        SessionCommand::Pause,
    ]);
    s.apply(migrate_to("a2"), T0, &timeouts()).expect("migrate");
    s.apply(SessionCommand::Migrated, T0, &timeouts())
        .expect("migrated");
    assert_eq!(s.state, SessionState::Paused);

    let mut idle = ready();
    idle.apply(migrate_to("a2"), T0, &timeouts())
        .expect("migrate");
    idle.apply(SessionCommand::Migrated, T0, &timeouts())
        .expect("migrated");
    assert_eq!(idle.state, SessionState::Ready);
}

#[test]
fn a_migration_to_where_the_session_already_is_is_invalid() {
    let mut s = ready();
    let here = SessionCommand::Migrate {
        agent: s.agent.clone(),
        instance: s.instance,
        key: s.key.clone(),
    };
    let before = s.clone();
    let err = s.apply(here, T0, &timeouts()).expect_err("no move");
    assert!(matches!(err, LifecycleError::Invalid { .. }), "{err}");
    assert_eq!(s, before);
}

#[test]
fn expire_is_refused_before_the_deadline_and_accepted_after() {
    let mut s = after([SessionCommand::Initialize]);
    assert_eq!(s.deadline, Some(T0 + Duration::from_secs(60)));
    let early = T0 + Duration::from_secs(59);
    let before = s.clone();
    let err = s
        .apply(SessionCommand::Expire, early, &timeouts())
        .expect_err("not due");
    assert!(matches!(err, LifecycleError::NotDue { .. }), "{err}");
    assert_eq!(s.expire_if_due(early, &timeouts()), None);
    assert_eq!(s, before);

    let due = T0 + Duration::from_secs(60);
    let event = s.expire_if_due(due, &timeouts()).expect("due");
    assert_eq!(s.state, SessionState::Timeout);
    assert_eq!(s.deadline, None);
    assert_eq!(kind(&event), SessionEventKind::Closed);
    assert_eq!(
        data(&event).reason.as_deref(),
        Some("initializing timed out")
    );
}

#[test]
fn a_state_without_a_timeout_cannot_expire() {
    let mut s = ready();
    assert_eq!(s.deadline, None);
    assert!(!s.can(&SessionCommand::Expire));
    let far = T0 + Duration::from_secs(10 * 365 * 86_400);
    let err = s
        .apply(SessionCommand::Expire, far, &timeouts())
        .expect_err("no deadline");
    assert!(
        matches!(err, LifecycleError::IllegalTransition { .. }),
        "{err}"
    );
    assert_eq!(s.expire_if_due(far, &timeouts()), None);
}

#[test]
fn ending_commands_close_the_session_and_error_reports_an_error() {
    let cases = [
        (fail(), SessionState::Failed, SessionEventKind::Closed),
        (
            SessionCommand::Cancel {
                reason: "operator".into(),
            },
            SessionState::Cancelled,
            SessionEventKind::Closed,
        ),
        (
            SessionCommand::Error {
                reason: "gateway lost".into(),
            },
            SessionState::Error,
            SessionEventKind::Error,
        ),
    ];
    for (command, state, event_kind) in cases {
        let mut s = running();
        let reason = s.reason(&command);
        let event = s.apply(command, T0, &timeouts()).expect("end");
        assert_eq!(s.state, state);
        assert_eq!(s.active_task, None, "a terminal session runs nothing");
        assert_eq!(kind(&event), event_kind);
        assert_eq!(data(&event).reason, reason);
    }
}

#[test]
fn terminal_sessions_refuse_every_command_and_stay_unchanged() {
    let commands = [
        SessionCommand::Initialize,
        SessionCommand::Ready,
        SessionCommand::StartRun { task: task(1) },
        SessionCommand::FinishRun,
        SessionCommand::Complete,
        SessionCommand::Close,
        SessionCommand::Pause,
        SessionCommand::Resume,
        SessionCommand::Checkpoint {
            checkpoint: CheckpointId::from_u128(1),
        },
        migrate_to("a9"),
        SessionCommand::Migrated,
        fail(),
        SessionCommand::Cancel { reason: "x".into() },
        SessionCommand::Error { reason: "x".into() },
        SessionCommand::Expire,
    ];
    let terminals = [
        after([
            SessionCommand::Initialize,
            SessionCommand::Ready,
            SessionCommand::Complete,
        ])
        .tap(SessionCommand::Close),
        session().tap(fail()),
        session().tap(SessionCommand::Error { reason: "x".into() }),
    ];
    for terminal in terminals {
        for command in commands.clone() {
            let mut s = terminal.clone();
            assert!(!s.can(&command));
            let far = T0 + Duration::from_secs(1_000_000);
            let err = s
                .apply(command.clone(), far, &timeouts())
                .expect_err("terminal");
            assert_eq!(
                err,
                LifecycleError::illegal("session", terminal.state, command.name()),
            );
            assert_eq!(s, terminal);
        }
    }
}

#[test]
fn the_table_allows_exactly_the_documented_commands_per_state() {
    use SessionState as S;
    let paused_running = running().tap(SessionCommand::Pause);
    let states = [
        (session(), S::Created),
        (after([SessionCommand::Initialize]), S::Initializing),
        (ready(), S::Ready),
        (running(), S::Running),
        (ready().tap(SessionCommand::Pause), S::Paused),
        (ready().tap(migrate_to("a2")), S::Migrating),
        (ready().tap(SessionCommand::Complete), S::Completing),
    ];
    // Allowed non-ending commands per state (fail, cancel and error are allowed everywhere).
    let allowed: &[(S, &[&str])] = &[
        (S::Created, &["initialize"]),
        (S::Initializing, &["ready", "expire"]),
        (
            S::Ready,
            &["start_run", "complete", "pause", "checkpoint", "migrate"],
        ),
        (
            S::Running,
            &["finish_run", "complete", "pause", "checkpoint", "migrate"],
        ),
        (S::Paused, &["resume", "checkpoint", "migrate", "expire"]),
        (S::Migrating, &["migrated", "expire"]),
        (S::Completing, &["close", "expire"]),
    ];
    let commands = [
        SessionCommand::Initialize,
        SessionCommand::Ready,
        SessionCommand::StartRun { task: task(1) },
        SessionCommand::FinishRun,
        SessionCommand::Complete,
        SessionCommand::Close,
        SessionCommand::Pause,
        SessionCommand::Resume,
        SessionCommand::Checkpoint {
            checkpoint: CheckpointId::from_u128(1),
        },
        migrate_to("a3"),
        SessionCommand::Migrated,
        SessionCommand::Expire,
    ];
    for (s, state) in states {
        assert_eq!(s.state, state);
        let expected = allowed
            .iter()
            .find(|(st, _)| *st == state)
            .map(|(_, names)| *names)
            .expect("row");
        for command in &commands {
            assert_eq!(
                s.can(command),
                expected.contains(&command.name()),
                "{} from {state}",
                command.name()
            );
        }
        assert!(s.can(&fail()));
    }
    assert!(paused_running.can(&SessionCommand::FinishRun));
}

impl SessionRecord {
    /// This record after `command` at `T0` (test shorthand).
    fn tap(mut self, command: SessionCommand) -> Self {
        let name = command.name();
        self.apply(command, T0, &timeouts())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        self
    }
}
