//! Wire schemas for the OpenAPI document. Answers are serialised from the engine's own types
//! (`godel_engine::Task`, `Page`, `godel_lifecycle` records, `godel_federation::Instance`...);
//! these types only describe that JSON for the document and are never serialised themselves.

// Documentation-only types: built by the `ToSchema` derive's reflection, never constructed.
#![allow(dead_code)]

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};
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

/// An agent or capability name: 1 to 128 ASCII letters, digits and `. _ - : @ /` (the rule
/// of `godel_queue`'s names).
#[derive(Deserialize)]
pub(crate) struct NameSchema;

impl PartialSchema for NameSchema {
    fn schema() -> RefOr<Schema> {
        RefOr::T(super::list_doc::name())
    }
}

impl ToSchema for NameSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Name")
    }
}

/// JSON `null`: what a field that may be sent as `null` (meaning absent) holds.
#[derive(Default, Deserialize)]
pub(crate) struct NullSchema;

impl PartialSchema for NullSchema {
    fn schema() -> RefOr<Schema> {
        RefOr::T(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Null)
                .into(),
        )
    }
}

impl ToSchema for NullSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Null")
    }
}

/// What an API key may do.
#[derive(ToSchema)]
#[schema(as = Role)]
pub(crate) enum RoleSchema {
    #[schema(rename = "viewer")]
    Viewer,
    #[schema(rename = "developer")]
    Developer,
    #[schema(rename = "operator")]
    Operator,
    #[schema(rename = "admin")]
    Admin,
}

/// A task's priority.
#[derive(Deserialize, ToSchema)]
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

/// What a task asks its agent to do: `prompt`, plus any other fields the agent reads.
#[derive(Deserialize, ToSchema)]
#[schema(as = TaskPayload)]
pub(crate) struct TaskPayloadSchema {
    /// What to do; not blank, at most 512 KiB.
    #[schema(min_length = 1, pattern = r"\S")]
    prompt: String,
}

/// A task to submit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SubmitTask)]
pub(crate) struct SubmitTaskSchema {
    payload: TaskPayloadSchema,
    priority: Option<PrioritySchema>,
    /// RFC 3339; at most a year ahead (earlier means due now).
    #[schema(format = DateTime)]
    scheduled_at: Option<String>,
    /// 1 to 100 (default 3).
    #[schema(minimum = 1, maximum = 100)]
    max_attempts: Option<u32>,
    /// Names of 1 to 128 ASCII letters, digits and `. _ - : @ /`; the prefix `session:` is
    /// reserved.
    #[serde(default)]
    capabilities: Vec<NameSchema>,
    session_id: Option<Uuid>,
    team_id: Option<Uuid>,
    parent_id: Option<Uuid>,
    #[serde(default)]
    depends_on: Vec<Uuid>,
    /// 1 to 86 400.
    #[schema(minimum = 1, maximum = 86_400)]
    timeout_s: Option<u64>,
    /// Same as the `Idempotency-Key` header (the header wins).
    #[schema(min_length = 1, max_length = 255, pattern = r"^[\x21-\x7E]+$")]
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

/// Gateway session settings to open a session with; every field may be left out.
#[derive(Default, Deserialize, ToSchema)]
#[schema(as = SessionConfigInput)]
pub(crate) struct SessionConfigInputSchema {
    profile: Option<String>,
    workspace: Option<String>,
    #[serde(default)]
    env_vars: std::collections::BTreeMap<String, String>,
}

/// A session to open.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateSession)]
pub(crate) struct CreateSessionSchema {
    agent_id: Option<NameSchema>,
    team_id: Option<Uuid>,
    #[serde(default)]
    openclaw_config: SessionConfigInputSchema,
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RegisterAgent)]
pub(crate) struct RegisterAgentSchema {
    name: NameSchema,
    instance_id: Uuid,
    gateway_agent: Option<String>,
    #[serde(default)]
    capabilities: Vec<NameSchema>,
    /// 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
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
#[derive(Deserialize, ToSchema)]
#[schema(as = InstanceSpec)]
pub(crate) struct InstanceSpecSchema {
    /// A `ws://` or `wss://` URL with a host.
    #[schema(max_length = 2048, pattern = r"^[Ww][Ss][Ss]?://[^/?#\s]+([/?#]\S*)?$")]
    endpoint: String,
    /// Not blank when set.
    #[schema(pattern = r"\S")]
    region: Option<String>,
    /// Not blank when set.
    #[schema(pattern = r"\S")]
    zone: Option<String>,
    /// Not blank when set.
    #[schema(pattern = r"\S")]
    version: Option<String>,
    #[serde(default)]
    capabilities: Vec<NameSchema>,
    #[schema(minimum = 1)]
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

/// Which dead letters to replay: by `ids`, or by filter (not both).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = ReplayRequest)]
pub(crate) enum ReplayRequestSchema {
    /// These tasks.
    ById(ReplayByIdsSchema),
    /// Those matching every given field.
    ByFilter(ReplayByFilterSchema),
}

/// Replays these tasks (those not dead-lettered are skipped).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReplayByIds)]
pub(crate) struct ReplayByIdsSchema {
    ids: Vec<Uuid>,
}

/// Replays the dead letters matching every given field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReplayByFilter)]
pub(crate) struct ReplayByFilterSchema {
    /// `null` is the same as leaving `ids` out.
    #[serde(default)]
    ids: NullSchema,
    #[schema(value_type = Option<PrioritySchema>)]
    priority: Option<String>,
    /// Dead-lettered before this time (RFC 3339).
    #[schema(format = DateTime)]
    before: Option<String>,
    /// Dead-lettered at or after this time (RFC 3339).
    #[schema(format = DateTime)]
    after: Option<String>,
    /// Only those whose last error contains this text.
    error_contains: Option<String>,
}
