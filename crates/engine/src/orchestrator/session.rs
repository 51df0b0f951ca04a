//! Sessions around a run: choose the session a claimed task runs in (its own, its team's, or
//! a new one), move it through its lifecycle, and keep the fleet's list of ready sessions (the
//! ones whose bound tasks an agent may claim) in step.

use godel_lifecycle::{
    RepositoryError, SessionCommand, SessionConfig, SessionFilter, SessionKey, SessionRecord,
    TaskDetails,
};
use godel_queue::Failure;
use godel_types::{AgentId, SessionId, SessionState};

use crate::engine::Inner;
use crate::error::EngineError;
use crate::fleet::Route;

/// The session a run goes to.
pub(crate) struct Prepared {
    pub(crate) session: SessionRecord,
    /// Opened for this task alone: closed when the run ends.
    pub(crate) ephemeral: bool,
}

/// Why a claimed task cannot run now.
pub(crate) enum NotReady {
    /// Give the task back without counting an attempt (e.g. its session is busy).
    Release(String),
    /// Count the attempt as failed.
    Fail(Failure),
}

/// Applies `command`, stores the session and publishes the event.
pub(crate) async fn transition(
    inner: &Inner,
    session: &mut SessionRecord,
    command: SessionCommand,
) -> Result<(), EngineError> {
    let event = session.apply(command, inner.clock.now(), &inner.config.sessions)?;
    inner.stores.sessions.update(session).await?;
    inner.bus.publish(event);
    sync_ready(inner, session);
    Ok(())
}

/// Keeps the fleet's ready-session set equal to the sessions in `ready` state.
pub(crate) fn sync_ready(inner: &Inner, session: &SessionRecord) {
    let mut fleet = inner.fleet.lock();
    for slot in fleet.agents.values_mut() {
        if slot.record.id == session.agent && session.state == SessionState::Ready {
            slot.ready_sessions.insert(session.id);
        } else {
            slot.ready_sessions.remove(&session.id);
        }
    }
}

/// Chooses and readies the session for a claimed task, leaving it `running`.
pub(crate) async fn prepare(
    inner: &Inner,
    agent: &AgentId,
    route: &Route,
    details: &TaskDetails,
) -> Result<Prepared, NotReady> {
    let start = SessionCommand::StartRun { task: details.id };
    if let Some(id) = details.session {
        let mut session = match inner.stores.sessions.get(&details.tenant, id).await {
            Ok(s) => s,
            Err(RepositoryError::NotFound { .. }) => {
                return Err(NotReady::Fail(Failure::permanent(format!(
                    "session {id} no longer exists"
                ))));
            }
            Err(e) => return Err(NotReady::Release(e.to_string())),
        };
        if session.state.is_terminal() {
            return Err(NotReady::Fail(Failure::permanent(format!(
                "session {id} is {}",
                session.state
            ))));
        }
        if &session.agent != agent || session.state != SessionState::Ready {
            return Err(NotReady::Release(format!("session {id} is not ready here")));
        }
        transition(inner, &mut session, start)
            .await
            .map_err(|e| NotReady::Release(e.to_string()))?;
        return Ok(Prepared {
            session,
            ephemeral: false,
        });
    }
    if let Some(team) = details.team {
        let filter = SessionFilter {
            tenant: Some(details.tenant.clone()),
            agent: Some(agent.clone()),
            team: Some(team),
            states: vec![SessionState::Ready],
            ..SessionFilter::default()
        };
        if let Ok(found) = inner.stores.sessions.list(&filter, None, 1).await
            && let Some(mut session) = found.into_iter().next()
            && transition(inner, &mut session, start.clone()).await.is_ok()
        {
            return Ok(Prepared {
                session,
                ephemeral: false,
            });
        }
    }
    let mut session = open(
        inner,
        &details.tenant,
        details.team,
        SessionConfig::default(),
        agent,
        route,
    )
    .await
    .map_err(|e| NotReady::Release(e.to_string()))?;
    transition(inner, &mut session, start)
        .await
        .map_err(|e| NotReady::Release(e.to_string()))?;
    Ok(Prepared {
        session,
        ephemeral: details.team.is_none(),
    })
}

/// Opens a new session of `tenant` (and `team`) on `agent`'s gateway, leaving it `ready`; on a
/// gateway failure the session is recorded as `error`.
pub(crate) async fn open(
    inner: &Inner,
    tenant: &godel_types::TenantId,
    team: Option<godel_types::TeamId>,
    config: SessionConfig,
    agent: &AgentId,
    route: &Route,
) -> Result<SessionRecord, EngineError> {
    let id = SessionId::generate();
    let key = SessionKey::for_session(&route.gateway_agent, id);
    let mut session = SessionRecord::new(
        id,
        tenant.clone(),
        agent.clone(),
        route.instance,
        key.clone(),
        team,
        config,
        inner.clock.now(),
    );
    inner.stores.sessions.insert(session.clone()).await?;
    transition(inner, &mut session, SessionCommand::Initialize).await?;
    let opened = route
        .gateway
        .ensure_session(&key, &route.gateway_agent)
        .await;
    super::run::breaker_result(
        inner,
        route,
        opened
            .as_ref()
            .map_or_else(|e| !e.is_gateway_fault(), |_| true),
    );
    if let Err(e) = opened {
        let _ = transition(
            inner,
            &mut session,
            SessionCommand::Error {
                reason: e.to_string(),
            },
        )
        .await;
        return Err(EngineError::Unavailable {
            message: format!("opening session on {}", route.instance),
            source: Some(Box::new(e)),
        });
    }
    transition(inner, &mut session, SessionCommand::Ready).await?;
    Ok(session)
}

/// Moves the session on after its run: a team's or named session becomes ready again, an
/// ephemeral one is completed and closed, and one whose gateway failed is marked `error`.
pub(crate) async fn finish(inner: &Inner, prepared: &mut Prepared, gateway_failed: bool) {
    let session = &mut prepared.session;
    if session.state != SessionState::Running {
        return; // migrated, paused or ended meanwhile: whoever moved it owns it now
    }
    let result = if gateway_failed {
        transition(
            inner,
            session,
            SessionCommand::Error {
                reason: "gateway lost during the run".into(),
            },
        )
        .await
    } else if prepared.ephemeral {
        match transition(inner, session, SessionCommand::Complete).await {
            Ok(()) => transition(inner, session, SessionCommand::Close).await,
            Err(e) => Err(e),
        }
    } else {
        transition(inner, session, SessionCommand::FinishRun).await
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, session = %session.id, "session could not move on after its run");
    }
}
