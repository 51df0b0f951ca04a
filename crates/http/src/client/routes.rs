//! One method of [`Client`] per REST route of `API.md`, each answering a [`Call`].

use godel_engine::{
    AgentStatusView, CreateSession, Page, RegisterAgent, SubmitTask, Task, TeamProgress,
};
use godel_federation::{Instance, InstanceSpec};
use godel_lifecycle::{AgentRecord, Checkpoint, SessionRecord};
use godel_types::{AgentId, InstanceId, SessionId, TaskId, TeamId};
use reqwest::Method;
use serde_json::{Value, json};

use super::Client;
use super::call::{Call, Root};
use super::error::ClientError;
use super::model::{
    ApiKeyCreated, ApiKeyInfo, AuditRecord, CreateApiKey, DeadLetterQuery, EventMessage, Health,
    InstanceHealthReport, Listing, MigrateSession, QueueDepth, ReplayFilter, ReplayOutcome,
    TaskQuery,
};

impl Client {
    fn call<T>(&self, method: Method, path: &[&str]) -> Call<'_, T> {
        Call::new(self, method, Root::Api, path)
    }

    // ---- tasks ----

    /// `POST /tasks`: submits a task; its `idempotency_key`, when set, is also sent as the
    /// `Idempotency-Key` header.
    ///
    /// # Errors
    /// [`ClientError::Decode`] when `task` cannot be encoded (a payload that is not JSON-able).
    pub fn create_task(&self, task: &SubmitTask) -> Result<Call<'_, Task>, ClientError> {
        self.call(Method::POST, &["tasks"])
            .header("idempotency-key", task.idempotency_key.as_deref())
            .json(task)
    }

    /// `GET /tasks`: one page of tasks.
    pub fn list_tasks(&self, query: &TaskQuery) -> Call<'_, Page<Task>> {
        self.call(Method::GET, &["tasks"])
            .query("limit", query.limit)
            .query("cursor", query.cursor.as_deref())
            .query("sort", query.sort.as_deref())
            .query("status", query.status)
            .query("priority", query.priority)
            .query("agent_id", query.agent_id.as_ref())
            .query("team_id", query.team_id)
    }

    /// `GET /tasks/{id}`.
    pub fn get_task(&self, id: TaskId) -> Call<'_, Task> {
        self.call(Method::GET, &["tasks"]).segment(id)
    }

    /// `POST /tasks/{id}/cancel` (409 `conflict` when it already finished).
    pub fn cancel_task(&self, id: TaskId) -> Call<'_, Task> {
        self.call(Method::POST, &["tasks"])
            .segment(id)
            .segment("cancel")
    }

    /// `POST /tasks/{id}/retry`: retries a failed or dead-lettered task.
    pub fn retry_task(&self, id: TaskId) -> Call<'_, Task> {
        self.call(Method::POST, &["tasks"])
            .segment(id)
            .segment("retry")
    }

    /// `GET /tasks/{id}/events`: the task's history, oldest first.
    pub fn task_events(&self, id: TaskId) -> Call<'_, Listing<EventMessage>> {
        self.call(Method::GET, &["tasks"])
            .segment(id)
            .segment("events")
    }

    // ---- queue and dead letters ----

    /// `GET /queue/depth`.
    pub fn queue_depth(&self) -> Call<'_, QueueDepth> {
        self.call(Method::GET, &["queue", "depth"])
    }

    /// `GET /dead-letter`: one page of dead-lettered tasks.
    pub fn list_dead_letters(&self, query: &DeadLetterQuery) -> Call<'_, Page<Task>> {
        self.call(Method::GET, &["dead-letter"])
            .query("limit", query.limit)
            .query("cursor", query.cursor.as_deref())
            .query("priority", query.priority)
    }

    /// `GET /dead-letter?format=ndjson`: every dead letter, one JSON task per line
    /// (read it with [`Call::text`]).
    pub fn export_dead_letters(&self, query: &DeadLetterQuery) -> Call<'_, Value> {
        self.call(Method::GET, &["dead-letter"])
            .query("format", Some("ndjson"))
            .query("priority", query.priority)
    }

    /// `POST /dead-letter/replay`: puts the matching dead letters back in the queue.
    ///
    /// # Errors
    /// [`ClientError::Decode`] when the filter cannot be encoded.
    pub fn replay_dead_letters(
        &self,
        filter: &ReplayFilter,
    ) -> Result<Call<'_, ReplayOutcome>, ClientError> {
        self.call(Method::POST, &["dead-letter", "replay"])
            .json(filter)
    }

    // ---- agents ----

    /// `GET /agents`.
    pub fn list_agents(&self) -> Call<'_, Listing<AgentRecord>> {
        self.call(Method::GET, &["agents"])
    }

    /// `POST /agents` (admin): registers an agent.
    ///
    /// # Errors
    /// [`ClientError::Decode`] when the request cannot be encoded.
    pub fn register_agent(
        &self,
        agent: &RegisterAgent,
    ) -> Result<Call<'_, AgentRecord>, ClientError> {
        self.call(Method::POST, &["agents"]).json(agent)
    }

    /// `GET /agents/{id}/status`: the agent with its live load.
    pub fn agent_status(&self, id: &AgentId) -> Call<'_, AgentStatusView> {
        self.call(Method::GET, &["agents"])
            .segment(id)
            .segment("status")
    }

    // ---- sessions ----

    /// `GET /sessions`.
    pub fn list_sessions(&self, limit: Option<u32>) -> Call<'_, Listing<SessionRecord>> {
        self.call(Method::GET, &["sessions"]).query("limit", limit)
    }

    /// `GET /sessions/{id}`: one session with its state history.
    pub fn get_session(&self, id: SessionId) -> Call<'_, SessionRecord> {
        self.call(Method::GET, &["sessions"]).segment(id)
    }

    /// `POST /sessions`: opens a session.
    ///
    /// # Errors
    /// [`ClientError::Decode`] when the request cannot be encoded.
    pub fn create_session(
        &self,
        session: &CreateSession,
    ) -> Result<Call<'_, SessionRecord>, ClientError> {
        self.call(Method::POST, &["sessions"]).json(session)
    }

    /// `POST /sessions/{id}/pause`.
    pub fn pause_session(&self, id: SessionId) -> Call<'_, SessionRecord> {
        self.session_action(id, "pause")
    }

    /// `POST /sessions/{id}/resume`.
    pub fn resume_session(&self, id: SessionId) -> Call<'_, SessionRecord> {
        self.session_action(id, "resume")
    }

    /// `POST /sessions/{id}/terminate`.
    pub fn terminate_session(&self, id: SessionId) -> Call<'_, SessionRecord> {
        self.session_action(id, "terminate")
    }

    /// `POST /sessions/{id}/checkpoint`, named `name` when given.
    pub fn checkpoint_session(&self, id: SessionId, name: Option<&str>) -> Call<'_, Checkpoint> {
        let call = self.session_action(id, "checkpoint");
        match name {
            Some(name) => call.body(json!({ "name": name })),
            None => call,
        }
    }

    /// `POST /sessions/{id}/migrate`.
    ///
    /// # Errors
    /// [`ClientError::Decode`] when the request cannot be encoded.
    pub fn migrate_session(
        &self,
        id: SessionId,
        target: &MigrateSession,
    ) -> Result<Call<'_, SessionRecord>, ClientError> {
        self.session_action(id, "migrate").json(target)
    }

    fn session_action<T>(&self, id: SessionId, action: &str) -> Call<'_, T> {
        self.call(Method::POST, &["sessions"])
            .segment(id)
            .segment(action)
    }

    // ---- instances ----

    /// `GET /instances`.
    pub fn list_instances(&self) -> Call<'_, Listing<Instance>> {
        self.call(Method::GET, &["instances"])
    }

    /// `POST /instances` (admin): registers a gateway instance.
    ///
    /// # Errors
    /// [`ClientError::Decode`] when the request cannot be encoded.
    pub fn add_instance(&self, spec: &InstanceSpec) -> Result<Call<'_, Instance>, ClientError> {
        // `InstanceSpec` leaves its token out when serialized (it is a secret at rest); the
        // request is where it must travel, so it is put back here.
        let mut body = serde_json::to_value(spec)
            .map_err(|e| ClientError::decode("(request body)", format!("cannot encode: {e}")))?;
        if let (Some(token), Some(map)) = (&spec.token, body.as_object_mut()) {
            map.insert("token".into(), Value::String(token.clone()));
        }
        Ok(self.call(Method::POST, &["instances"]).body(body))
    }

    /// `DELETE /instances/{id}` (admin): deregisters an instance; the removed instance when
    /// the server answers it.
    pub fn remove_instance(&self, id: InstanceId) -> Call<'_, Option<Instance>> {
        self.call(Method::DELETE, &["instances"]).segment(id)
    }

    /// `GET /instances/{id}/health`.
    pub fn instance_health(&self, id: InstanceId) -> Call<'_, InstanceHealthReport> {
        self.call(Method::GET, &["instances"])
            .segment(id)
            .segment("health")
    }

    // ---- teams ----

    /// `GET /teams`: teams with their progress.
    pub fn list_teams(&self) -> Call<'_, Listing<TeamProgress>> {
        self.call(Method::GET, &["teams"])
    }

    /// `GET /teams/{id}`.
    pub fn get_team(&self, id: TeamId) -> Call<'_, TeamProgress> {
        self.call(Method::GET, &["teams"]).segment(id)
    }

    // ---- access ----

    /// `POST /api-keys` (admin): creates a key; the answer holds the secret, shown once.
    ///
    /// # Errors
    /// [`ClientError::Decode`] when the request cannot be encoded.
    pub fn create_api_key(
        &self,
        key: &CreateApiKey,
    ) -> Result<Call<'_, ApiKeyCreated>, ClientError> {
        self.call(Method::POST, &["api-keys"]).json(key)
    }

    /// `GET /api-keys` (admin).
    pub fn list_api_keys(&self) -> Call<'_, Listing<ApiKeyInfo>> {
        self.call(Method::GET, &["api-keys"])
    }

    /// `DELETE /api-keys/{id}` (admin): revokes a key; the revoked key when the server
    /// answers it.
    pub fn revoke_api_key(&self, id: &str) -> Call<'_, Option<ApiKeyInfo>> {
        self.call(Method::DELETE, &["api-keys"]).segment(id)
    }

    /// `GET /audit` (admin): one page of the audit log, newest first.
    pub fn audit(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Call<'_, Listing<AuditRecord>> {
        self.call(Method::GET, &["audit"])
            .query("limit", limit)
            .query("cursor", cursor)
    }

    // ---- operations ----

    /// `GET /health` (public). A 503 with a health body is an answer (`unhealthy`), not an
    /// error.
    pub fn health(&self) -> Call<'_, Health> {
        Call::new(self, Method::GET, Root::Server, &["health"]).accept_error_body()
    }

    /// `GET /api/v1/openapi.json` (public): the OpenAPI 3.1 document.
    pub fn openapi(&self) -> Call<'_, Value> {
        self.call(Method::GET, &["openapi.json"])
    }
}
