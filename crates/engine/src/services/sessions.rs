//! `SessionService`: create, get, list, pause, resume, checkpoint, migrate and terminate
//! sessions (PRD FR-2, US-020, US-027).

use std::sync::Arc;

use godel_lifecycle::{
    Checkpoint, SessionCommand, SessionConfig, SessionFilter, SessionKey, SessionRecord,
};
use godel_scheduling::{Admission, RouteRequest};
use godel_types::{AgentId, CheckpointId, SessionId, TeamId, TenantId};
use serde::{Deserialize, Serialize};

use crate::engine::Inner;
use crate::error::EngineError;
use crate::orchestrator::session::transition;

/// Session use cases.
#[derive(Clone)]
pub struct SessionService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SessionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService").finish_non_exhaustive()
    }
}

/// A session to open (API `POST /sessions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// The agent to open it on (default: the router's choice).
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// The team it serves.
    #[serde(default)]
    pub team_id: Option<TeamId>,
    /// Gateway session settings.
    #[serde(default)]
    pub openclaw_config: SessionConfig,
}

impl SessionService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Opens a session on the gateway, leaving it `ready`.
    ///
    /// # Errors
    /// [`EngineError::OverCapacity`] when pool utilisation is above the backpressure
    /// threshold or no agent can take it; [`EngineError::NotFound`] for an unknown agent;
    /// [`EngineError::Unavailable`] when the gateway fails.
    pub async fn create(
        &self,
        tenant: &TenantId,
        request: CreateSession,
    ) -> Result<SessionRecord, EngineError> {
        let inner = &self.inner;
        let (agent, route) = {
            let fleet = inner.fleet.lock();
            let (load, capacity) = fleet.pool();
            if let Admission::Refuse { utilisation } =
                inner.config.backpressure.admit_session(load, capacity)
            {
                return Err(EngineError::OverCapacity(format!(
                    "pool utilisation {:.0}% is above the session threshold",
                    utilisation * 100.0
                )));
            }
            let agent = match request.agent_id {
                Some(a) => {
                    if !fleet.agents.contains_key(&a) {
                        return Err(EngineError::not_found("agent", a));
                    }
                    a
                }
                None => {
                    let snapshots = fleet.snapshots(inner.clock.now());
                    let req = RouteRequest {
                        region: inner.config.dispatch.region.clone(),
                        ..RouteRequest::default()
                    };
                    let mut router = godel_scheduling::Router::new(inner.config.routing.clone());
                    router
                        .route(&req, &snapshots)
                        .map(|d| d.agent)
                        .ok_or_else(|| {
                            EngineError::OverCapacity("no agent can take a session".into())
                        })?
                }
            };
            let route = fleet
                .route(&agent)
                .ok_or_else(|| EngineError::not_found("agent", &agent))?;
            (agent, route)
        };
        let session = crate::orchestrator::session::open(
            inner,
            tenant,
            request.team_id,
            request.openclaw_config,
            &agent,
            &route,
        )
        .await?;
        inner.wake.notify_one();
        Ok(session)
    }

    /// One session with its state history.
    ///
    /// # Errors
    /// [`EngineError::NotFound`].
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: SessionId,
    ) -> Result<SessionRecord, EngineError> {
        Ok(self.inner.stores.sessions.get(tenant, id).await?)
    }

    /// A page of `tenant`'s sessions.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`].
    pub async fn list(
        &self,
        tenant: &TenantId,
        mut filter: SessionFilter,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, EngineError> {
        filter.tenant = Some(tenant.clone());
        Ok(self
            .inner
            .stores
            .sessions
            .list(&filter, after, limit.min(100))
            .await?)
    }

    /// Pauses a session: no new run starts in it until resumed.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; [`EngineError::Conflict`] when it cannot pause now.
    pub async fn pause(
        &self,
        tenant: &TenantId,
        id: SessionId,
    ) -> Result<SessionRecord, EngineError> {
        self.command(tenant, id, SessionCommand::Pause).await
    }

    /// Resumes a paused session.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; [`EngineError::Conflict`] when it is not paused.
    pub async fn resume(
        &self,
        tenant: &TenantId,
        id: SessionId,
    ) -> Result<SessionRecord, EngineError> {
        let session = self.command(tenant, id, SessionCommand::Resume).await?;
        self.inner.wake.notify_one();
        Ok(session)
    }

    /// Saves a checkpoint of a session (named when `name` is given).
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; [`EngineError::Conflict`] when it cannot be checkpointed now
    /// or the name is taken.
    pub async fn checkpoint(
        &self,
        tenant: &TenantId,
        id: SessionId,
        name: Option<String>,
    ) -> Result<Checkpoint, EngineError> {
        let mut session = self.get(tenant, id).await?;
        let checkpoint = Checkpoint {
            id: CheckpointId::generate(),
            tenant: tenant.clone(),
            session: id,
            name,
            state: session.state,
            data: serde_json::json!({
                "key": session.key,
                "agent": session.agent,
                "instance": session.instance,
                "active_task": session.active_task,
            }),
            created_at: self.inner.clock.now(),
        };
        transition(
            &self.inner,
            &mut session,
            SessionCommand::Checkpoint {
                checkpoint: checkpoint.id,
            },
        )
        .await?;
        self.inner
            .stores
            .checkpoints
            .save(checkpoint.clone())
            .await?;
        Ok(checkpoint)
    }

    /// Moves a session to another agent (on any healthy instance).
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown session or agent; [`EngineError::Conflict`]
    /// when it cannot migrate now.
    pub async fn migrate(
        &self,
        tenant: &TenantId,
        id: SessionId,
        to: &AgentId,
    ) -> Result<SessionRecord, EngineError> {
        let mut session = self.get(tenant, id).await?;
        let route = self
            .inner
            .fleet
            .lock()
            .route(to)
            .ok_or_else(|| EngineError::not_found("agent", to))?;
        let key = SessionKey::for_session(&route.gateway_agent, id);
        transition(
            &self.inner,
            &mut session,
            SessionCommand::Migrate {
                agent: to.clone(),
                instance: route.instance,
                key: key.clone(),
            },
        )
        .await?;
        route
            .gateway
            .ensure_session(&key, &route.gateway_agent)
            .await
            .map_err(|e| EngineError::Unavailable {
                message: "the target gateway could not open the session".into(),
                source: Some(Box::new(e)),
            })?;
        transition(&self.inner, &mut session, SessionCommand::Migrated).await?;
        self.inner.wake.notify_one();
        Ok(session)
    }

    /// Ends a session (cancelled); a run in it is aborted on the gateway.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; [`EngineError::Conflict`] when it already ended.
    pub async fn terminate(
        &self,
        tenant: &TenantId,
        id: SessionId,
    ) -> Result<SessionRecord, EngineError> {
        let session = self
            .command(
                tenant,
                id,
                SessionCommand::Cancel {
                    reason: "terminated by an operator".into(),
                },
            )
            .await?;
        let route = self.inner.fleet.lock().route(&session.agent);
        if let Some(route) = route {
            let _ = route.gateway.abort(&session.key, None).await;
        }
        Ok(session)
    }

    async fn command(
        &self,
        tenant: &TenantId,
        id: SessionId,
        command: SessionCommand,
    ) -> Result<SessionRecord, EngineError> {
        let mut session = self.get(tenant, id).await?;
        transition(&self.inner, &mut session, command).await?;
        Ok(session)
    }
}
