//! Wire schemas for the OpenAPI document. Answers are serialised from the engine's own types
//! (`godel_engine::Task`, `Page`, `godel_lifecycle` records, `godel_federation::Instance`...);
//! these types only describe that JSON for the document and are never serialised themselves.

// Documentation-only types: built by the `ToSchema` derive's reflection, never constructed.
#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// The PRD 10.2 error body.
#[derive(ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorSchema {
    error: ErrorDetailSchema,
}

/// The `error` object.
#[derive(ToSchema)]
#[schema(as = ErrorDetail)]
pub(crate) struct ErrorDetailSchema {
    /// `invalid_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `rate_limited`, `internal_error`, `service_unavailable` or `gateway_timeout`.
    code: String,
    message: String,
    retryable: bool,
    /// Also in `X-Request-Id`.
    request_id: String,
}

/// A task's priority.
#[derive(ToSchema)]
#[schema(as = Priority)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum PrioritySchema {
    #[schema(rename = "critical")]
    Critical,
    #[schema(rename = "high")]
    High,
    #[schema(rename = "medium")]
    Medium,
    #[schema(rename = "low")]
    Low,
}

/// A task to submit.
#[derive(ToSchema)]
#[schema(as = SubmitTask)]
pub(crate) struct SubmitTaskSchema {
    /// A JSON object with a non-empty `prompt` string.
    #[schema(value_type = Object)]
    payload: Value,
    priority: Option<PrioritySchema>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    scheduled_at: Option<String>,
    /// 1 to 100 (default 3).
    max_attempts: Option<u32>,
    capabilities: Option<Vec<String>>,
    session_id: Option<Uuid>,
    team_id: Option<Uuid>,
    parent_id: Option<Uuid>,
    depends_on: Option<Vec<Uuid>>,
    /// 1 to 86 400.
    timeout_s: Option<u64>,
    /// Same as the `Idempotency-Key` header (the header wins).
    idempotency_key: Option<String>,
}

/// A task.
#[derive(ToSchema)]
#[schema(as = Task)]
pub(crate) struct TaskSchema {
    id: Uuid,
    tenant_id: String,
    /// `pending`, `blocked`, `scheduled`, `assigned`, `running`, `completed`, `failed`,
    /// `cancelled` or `dead_letter`.
    status: String,
    priority: PrioritySchema,
    #[schema(value_type = Object)]
    payload: Value,
    capabilities: Vec<String>,
    attempt_count: u32,
    max_attempts: u32,
    agent_id: Option<String>,
    session_id: Option<Uuid>,
    team_id: Option<Uuid>,
    parent_id: Option<Uuid>,
    depends_on: Vec<Uuid>,
    timeout_s: Option<u64>,
    cancel_requested: bool,
    last_error: Option<String>,
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    runs: Vec<Value>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime)]
    due_at: Option<String>,
    #[schema(format = DateTime)]
    started_at: Option<String>,
    #[schema(format = DateTime)]
    finished_at: Option<String>,
    #[schema(format = DateTime)]
    dead_lettered_at: Option<String>,
}

/// An event of the audit trail (as on the `/events` WebSocket).
#[derive(ToSchema)]
#[schema(as = Event)]
pub(crate) struct EventSchema {
    id: Uuid,
    tenant_id: Option<String>,
    #[schema(format = DateTime)]
    timestamp: String,
    /// e.g. `task.completed`.
    event: String,
    #[schema(value_type = Object)]
    data: Value,
}

/// A team's progress.
#[derive(ToSchema)]
#[schema(as = TeamProgress)]
pub(crate) struct TeamProgressSchema {
    team_id: Uuid,
    total: u64,
    completed: u64,
    running: u64,
    waiting: u64,
    dead_lettered: u64,
    cancelled: u64,
}

/// Gateway session settings.
#[derive(ToSchema)]
#[schema(as = SessionConfig)]
pub(crate) struct SessionConfigSchema {
    profile: Option<String>,
    workspace: Option<String>,
    env_vars: std::collections::BTreeMap<String, String>,
}

/// A session to open.
#[derive(ToSchema)]
#[schema(as = CreateSession)]
pub(crate) struct CreateSessionSchema {
    agent_id: Option<String>,
    team_id: Option<Uuid>,
    openclaw_config: Option<SessionConfigSchema>,
}

/// A session with its state history.
#[derive(ToSchema)]
#[schema(as = Session)]
pub(crate) struct SessionSchema {
    id: Uuid,
    tenant: String,
    agent: String,
    instance: Uuid,
    key: String,
    team: Option<Uuid>,
    config: SessionConfigSchema,
    /// `created`, `initializing`, `ready`, `running`, `paused`, `migrating`, `completing`,
    /// `completed`, `failed`, `cancelled`, `timeout` or `error`.
    state: String,
    active_task: Option<Uuid>,
    #[schema(format = DateTime)]
    deadline: Option<String>,
    last_checkpoint: Option<Uuid>,
    /// `{from, to, at, reason}`, oldest first.
    #[schema(value_type = Vec<Object>)]
    history: Vec<Value>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    version: u64,
}

/// A session checkpoint.
#[derive(ToSchema)]
#[schema(as = Checkpoint)]
pub(crate) struct CheckpointSchema {
    id: Uuid,
    tenant: String,
    session: Uuid,
    name: Option<String>,
    state: String,
    #[schema(value_type = Object)]
    data: Value,
    #[schema(format = DateTime)]
    created_at: String,
}

/// An agent to register.
#[derive(ToSchema)]
#[schema(as = RegisterAgent)]
pub(crate) struct RegisterAgentSchema {
    name: String,
    instance_id: Uuid,
    gateway_agent: Option<String>,
    capabilities: Option<Vec<String>>,
    /// 1 to 1000.
    max_capacity: u32,
}

/// An agent.
#[derive(ToSchema)]
#[schema(as = Agent)]
pub(crate) struct AgentSchema {
    id: String,
    instance: Uuid,
    gateway_agent: String,
    capabilities: Vec<String>,
    max_capacity: u32,
    /// `idle`, `busy`, `offline` or `error`.
    status: String,
    #[schema(format = DateTime)]
    registered_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// An agent with its live load.
#[derive(ToSchema)]
#[schema(as = AgentStatusView)]
pub(crate) struct AgentStatusSchema {
    agent: AgentSchema,
    active_tasks: u32,
    queue_depth: u64,
}

/// An instance to register.
#[derive(ToSchema)]
#[schema(as = InstanceSpec)]
pub(crate) struct InstanceSpecSchema {
    /// `ws://` or `wss://`.
    endpoint: String,
    region: Option<String>,
    zone: Option<String>,
    version: Option<String>,
    capabilities: Option<Vec<String>>,
    max_sessions: u32,
    /// The gateway's token; never shown again.
    token: Option<String>,
}

/// A federated OpenClaw instance.
#[derive(ToSchema)]
#[schema(as = Instance)]
pub(crate) struct InstanceSchema {
    id: Uuid,
    endpoint: String,
    region: Option<String>,
    zone: Option<String>,
    version: Option<String>,
    capabilities: Vec<String>,
    max_sessions: u32,
    /// `unknown`, `healthy`, `degraded` or `unhealthy`.
    health: String,
    load: u32,
    #[schema(format = DateTime)]
    last_heartbeat: Option<String>,
    #[schema(format = DateTime)]
    registered_at: String,
    draining: bool,
}

/// An audit log entry.
#[derive(ToSchema)]
#[schema(as = AuditEntry)]
pub(crate) struct AuditEntrySchema {
    id: Uuid,
    #[schema(format = DateTime)]
    at: String,
    tenant: Option<String>,
    actor: String,
    action: String,
    /// `success`, `unauthenticated`, `forbidden` or `failure`.
    outcome: String,
    target: Option<String>,
    request_id: Option<String>,
    remote_addr: Option<String>,
    #[schema(value_type = Object)]
    details: Value,
}

macro_rules! page_schema {
    ($name:ident, $as:ident, $item:ty) => {
        /// One page of a list.
        #[derive(ToSchema)]
        #[schema(as = $as)]
        pub(crate) struct $name {
            items: Vec<$item>,
            /// Pass back as `cursor` for the next page; null on the last page.
            next_cursor: Option<String>,
            /// Items matching in all.
            total: u64,
        }
    };
}

page_schema!(TaskPageSchema, TaskPage, TaskSchema);
page_schema!(SessionPageSchema, SessionPage, SessionSchema);
page_schema!(AgentPageSchema, AgentPage, AgentSchema);
page_schema!(InstancePageSchema, InstancePage, InstanceSchema);
page_schema!(TeamPageSchema, TeamPage, TeamProgressSchema);
page_schema!(
    ApiKeyPageSchema,
    ApiKeyPage,
    crate::routes::api_keys::ApiKeyView
);
page_schema!(AuditPageSchema, AuditPage, AuditEntrySchema);
