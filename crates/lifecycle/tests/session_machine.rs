//! Property tests of the session state machine: random command sequences, with random time
//! passing and random timeouts, against the invariants of the transition table and a small
//! reference model of it written differently (one row per target state).

use std::time::Duration;

use godel_lifecycle::{
    LifecycleError, SessionCommand, SessionConfig, SessionKey, SessionRecord, SessionTimeouts,
};
use godel_types::{
    AgentId, CheckpointId, Event, EventBody, InstanceId, SessionEventKind, SessionId, SessionState,
    TaskId, TenantId,
};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;

/// One step of a scenario: time passes, then something is asked of the session.
#[derive(Debug, Clone)]
enum Op {
    /// Apply this command, legal or not.
    Apply(SessionCommand),
    /// Apply the first of these commands the reference model accepts without ending the
    /// session, else the first: steers scenarios deep into the table instead of ending them
    /// early.
    Prefer(Vec<SessionCommand>),
    /// Call `expire_if_due`.
    ExpireIfDue,
}

fn key_for(agent: &str, instance: u128) -> SessionKey {
    SessionKey::new(format!("agent:{agent}:godel-{instance}"))
}

fn fresh(now: OffsetDateTime) -> SessionRecord {
    SessionRecord::new(
        SessionId::from_u128(1),
        TenantId::parse("acme").expect("tenant"),
        AgentId::parse("a1").expect("agent"),
        InstanceId::from_u128(1),
        key_for("a1", 1),
        None,
        SessionConfig::default(),
        now,
    )
}

/// Commands that do not end a session (but `Expire` may, when due).
fn lively_command() -> impl Strategy<Value = SessionCommand> {
    prop_oneof![
        Just(SessionCommand::Initialize),
        Just(SessionCommand::Ready),
        (0u128..4).prop_map(|t| SessionCommand::StartRun {
            task: TaskId::from_u128(t)
        }),
        Just(SessionCommand::FinishRun),
        Just(SessionCommand::Complete),
        Just(SessionCommand::Close),
        Just(SessionCommand::Pause),
        Just(SessionCommand::Resume),
        (0u128..4).prop_map(|c| SessionCommand::Checkpoint {
            checkpoint: CheckpointId::from_u128(c),
        }),
        (prop::sample::select(vec!["a1", "a2"]), 1u128..3).prop_map(|(agent, instance)| {
            SessionCommand::Migrate {
                agent: AgentId::parse(agent).expect("agent"),
                instance: InstanceId::from_u128(instance),
                key: key_for(agent, instance),
            }
        }),
        Just(SessionCommand::Migrated),
        Just(SessionCommand::Expire),
    ]
}

/// Commands that end a session.
fn ending_command() -> impl Strategy<Value = SessionCommand> {
    let reason = "[a-z ]{0,8}";
    prop_oneof![
        reason.prop_map(|reason| SessionCommand::Fail { reason }),
        reason.prop_map(|reason| SessionCommand::Cancel { reason }),
        reason.prop_map(|reason| SessionCommand::Error { reason }),
    ]
}

/// Any command.
fn command() -> impl Strategy<Value = SessionCommand> {
    prop_oneof![6 => lively_command(), 1 => ending_command()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => command().prop_map(Op::Apply),
        6 => prop::collection::vec(lively_command(), 1..8).prop_map(Op::Prefer),
        1 => Just(Op::ExpireIfDue),
    ]
}

/// Seconds to let pass before a step: mostly little, sometimes past any timeout.
fn pause() -> impl Strategy<Value = u64> {
    prop_oneof![12 => 0u64..20, 2 => 20u64..400, 1 => 0u64..200_000]
}

fn timeout() -> impl Strategy<Value = Duration> {
    (1u64..300).prop_map(Duration::from_secs)
}

fn timeouts() -> impl Strategy<Value = SessionTimeouts> {
    prop_oneof![
        1 => Just(SessionTimeouts::default()),
        3 => (
            timeout(),
            proptest::option::of(timeout()),
            proptest::option::of(timeout()),
            timeout(),
            proptest::option::of(timeout()),
            timeout(),
        )
            .prop_map(|(initializing, ready, running, completing, paused, migrating)| {
                SessionTimeouts { initializing, ready, running, completing, paused, migrating }
            }),
    ]
}

/// The reference model: the state `command` leads to from `s` at `now`, or `None` if it must
/// be refused.
fn expected(
    s: &SessionRecord,
    command: &SessionCommand,
    now: OffsetDateTime,
) -> Option<SessionState> {
    use SessionCommand as C;
    use SessionState as S;
    if s.state.is_terminal() {
        return None;
    }
    let state = s.state;
    let running_task = s.active_task.is_some();
    let was_paused = s
        .history
        .iter()
        .rev()
        .find(|c| c.to == S::Migrating)
        .is_some_and(|c| c.from == S::Paused);
    let back_to_work = if running_task { S::Running } else { S::Ready };
    let allowed = |from: &[S]| from.contains(&state);
    match command {
        C::Initialize => allowed(&[S::Created]).then_some(S::Initializing),
        C::Ready => allowed(&[S::Initializing]).then_some(S::Ready),
        C::StartRun { .. } => allowed(&[S::Ready]).then_some(S::Running),
        C::FinishRun if state == S::Paused => running_task.then_some(S::Paused),
        C::FinishRun => allowed(&[S::Running]).then_some(S::Ready),
        C::Complete => allowed(&[S::Ready, S::Running]).then_some(S::Completing),
        C::Close => allowed(&[S::Completing]).then_some(S::Completed),
        C::Pause => allowed(&[S::Ready, S::Running]).then_some(S::Paused),
        C::Resume => allowed(&[S::Paused]).then_some(back_to_work),
        C::Checkpoint { .. } => allowed(&[S::Ready, S::Running, S::Paused]).then_some(state),
        C::Migrate {
            agent,
            instance,
            key,
        } => {
            let moves = *agent != s.agent || *instance != s.instance || *key != s.key;
            (moves && allowed(&[S::Ready, S::Running, S::Paused])).then_some(S::Migrating)
        }
        C::Migrated => {
            allowed(&[S::Migrating]).then_some(if was_paused { S::Paused } else { back_to_work })
        }
        C::Fail { .. } => Some(S::Failed),
        C::Cancel { .. } => Some(S::Cancelled),
        C::Error { .. } => Some(S::Error),
        C::Expire => s.deadline.filter(|d| *d <= now).map(|_| S::Timeout),
    }
}

/// The command of an [`Op::Prefer`].
fn prefer(s: &SessionRecord, candidates: &[SessionCommand], now: OffsetDateTime) -> SessionCommand {
    let target = |c: &&SessionCommand| expected(s, c, now);
    candidates
        .iter()
        .find(|c| target(c).is_some_and(|t| !t.is_terminal()))
        .unwrap_or(&candidates[0])
        .clone()
}

fn expected_kind(from: SessionState, to: SessionState) -> SessionEventKind {
    match (from, to) {
        (SessionState::Initializing, SessionState::Ready) => SessionEventKind::Opened,
        (_, SessionState::Error) => SessionEventKind::Error,
        (_, to) if to.is_terminal() => SessionEventKind::Closed,
        _ => SessionEventKind::StateChange,
    }
}

/// Checks what must hold of every record, whatever happened to it.
fn check_record(s: &SessionRecord) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        SessionState::ALL.iter().filter(|x| **x == s.state).count(),
        1
    );
    prop_assert_eq!(
        s.version,
        s.history.len() as u64,
        "version counts the changes"
    );
    let mut previous = SessionState::Created;
    for change in &s.history {
        prop_assert_eq!(change.from, previous, "history chains without gaps");
        prop_assert!(
            !change.from.is_terminal(),
            "nothing leaves a terminal state"
        );
        previous = change.to;
    }
    prop_assert_eq!(s.state, previous, "the state is the last change's target");
    prop_assert!(
        s.history.windows(2).all(|w| w[0].at <= w[1].at),
        "history is in time order"
    );
    if s.state == SessionState::Running {
        prop_assert!(s.active_task.is_some(), "a running session has a task");
    }
    if s.active_task.is_some() {
        prop_assert!(
            matches!(
                s.state,
                SessionState::Running | SessionState::Paused | SessionState::Migrating
            ),
            "only running, paused or migrating sessions hold a task, not {}",
            s.state
        );
    }
    if s.state.is_terminal() || s.state == SessionState::Created {
        prop_assert_eq!(s.deadline, None);
    }
    Ok(())
}

/// Checks one accepted step: the model agreed, the record moved as documented, the event
/// describes the move.
fn check_accepted(
    before: &SessionRecord,
    after: &SessionRecord,
    event: &Event,
    now: OffsetDateTime,
    timeouts: &SessionTimeouts,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(after.version, before.version + 1);
    prop_assert_eq!(after.updated_at, now);
    let change = after.history.last().expect("a change was recorded");
    prop_assert_eq!(
        (change.from, change.to, change.at),
        (before.state, after.state, now)
    );
    if after.state == before.state {
        prop_assert_eq!(
            after.deadline,
            before.deadline,
            "keeping the state keeps the deadline"
        );
    } else {
        prop_assert_eq!(after.deadline, timeouts.deadline(after.state, now));
    }
    prop_assert_eq!(event.at, now);
    prop_assert_eq!(event.tenant.as_ref(), Some(&after.tenant));
    let EventBody::Session(kind, data) = &event.body else {
        return Err(TestCaseError::fail(format!(
            "not a session event: {event:?}"
        )));
    };
    prop_assert_eq!(*kind, expected_kind(before.state, after.state));
    prop_assert_eq!(data.id, after.id);
    prop_assert_eq!(data.state, after.state, "the event carries the new state");
    prop_assert_eq!(data.previous, Some(before.state));
    prop_assert_eq!(data.agent_id.as_ref(), Some(&after.agent));
    prop_assert_eq!(&data.reason, &change.reason);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_the_machine_consistent(
        timeouts in timeouts(),
        steps in prop::collection::vec((pause(), op()), 1..60),
    ) {
        let mut now = datetime!(2026-01-01 0:00 UTC);
        let mut session = fresh(now);
        for (wait, op) in steps {
            now += Duration::from_secs(wait);
            let before = session.clone();
            let op = match op {
                Op::Prefer(candidates) => Op::Apply(prefer(&before, &candidates, now)),
                op => op,
            };
            match op {
                Op::Prefer(_) => unreachable!("resolved above"),
                Op::Apply(command) => {
                    let target = expected(&before, &command, now);
                    let allowed_by_table = before.can(&command);
                    match session.apply(command.clone(), now, &timeouts) {
                        Ok(event) => {
                            prop_assert_eq!(Some(session.state), target, "{:?}", command);
                            prop_assert!(allowed_by_table);
                            check_accepted(&before, &session, &event, now, &timeouts)?;
                        }
                        Err(err) => {
                            prop_assert_eq!(target, None, "{:?} refused: {}", command, err);
                            prop_assert_eq!(&session, &before, "a refusal changes nothing");
                            let is_illegal = matches!(err, LifecycleError::IllegalTransition { .. });
                            prop_assert_eq!(is_illegal, !allowed_by_table, "{}", err);
                            if before.state.is_terminal() {
                                prop_assert!(is_illegal, "a terminal session refuses all: {}", err);
                            }
                        }
                    }
                }
                Op::ExpireIfDue => {
                    let due = before.deadline.is_some_and(|d| d <= now) && !before.state.is_terminal();
                    match session.expire_if_due(now, &timeouts) {
                        Some(event) => {
                            prop_assert!(due);
                            prop_assert_eq!(session.state, SessionState::Timeout);
                            check_accepted(&before, &session, &event, now, &timeouts)?;
                        }
                        None => {
                            prop_assert!(!due);
                            prop_assert_eq!(&session, &before);
                        }
                    }
                }
            }
            check_record(&session)?;
        }
    }

    #[test]
    fn once_terminal_every_command_is_refused_and_nothing_changes(
        ending in prop_oneof![
            Just(SessionCommand::Fail { reason: "f".into() }),
            Just(SessionCommand::Cancel { reason: "c".into() }),
            Just(SessionCommand::Error { reason: "e".into() }),
        ],
        prefix in prop::collection::vec(command(), 0..8),
        later in prop::collection::vec((pause(), command()), 1..20),
    ) {
        let timeouts = SessionTimeouts::default();
        let mut now = datetime!(2026-01-01 0:00 UTC);
        let mut session = fresh(now);
        for command in prefix {
            let _ = session.apply(command, now, &timeouts);
        }
        if !session.state.is_terminal() {
            session.apply(ending, now, &timeouts).expect("any open session can end");
        }
        let terminal = session.clone();
        for (wait, command) in later {
            now += Duration::from_secs(wait);
            prop_assert!(!session.can(&command));
            let refused = session.apply(command, now, &timeouts);
            prop_assert!(
                matches!(refused, Err(LifecycleError::IllegalTransition { .. })),
                "{:?}",
                refused
            );
            prop_assert_eq!(session.expire_if_due(now, &timeouts), None);
            prop_assert_eq!(&session, &terminal);
        }
    }
}
