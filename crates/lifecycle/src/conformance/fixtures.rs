//! Records the conformance cases store: deterministic ids, whole-second times (every adapter
//! can store them exactly), and a few distinct tenants, agents and instances.

use std::time::Duration;

use godel_types::{
    AgentId, Capabilities, CheckpointId, Event, EventBody, EventId, InstanceId, Priority,
    SessionId, SessionState, TaskEvent, TaskEventKind, TaskId, TaskStatus, TenantId,
};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::gateway::{RunId, SessionKey};
use crate::records::{AgentRecord, Checkpoint, RunRecord, SessionConfig, SessionRecord};

/// The time every fixture starts from.
#[must_use]
pub fn t0() -> OffsetDateTime {
    datetime!(2026-01-01 0:00 UTC)
}

/// `t0()` plus `secs` seconds.
fn at(secs: u64) -> OffsetDateTime {
    t0() + Duration::from_secs(secs)
}

/// A tenant id from a name such as `"acme"`.
///
/// # Panics
/// When `name` is not a valid tenant id.
#[must_use]
pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant id")
}

/// Instance number `n`.
#[must_use]
pub fn instance(n: u128) -> InstanceId {
    InstanceId::from_u128(n)
}

/// A new session `n` of `tenant` on agent `a1` of instance 1, created at `t0()`.
#[must_use]
pub fn session(tenant_name: &str, n: u128) -> SessionRecord {
    let id = SessionId::from_u128(n);
    SessionRecord::new(
        id,
        tenant(tenant_name),
        AgentId::parse("a1").expect("valid agent id"),
        instance(1),
        SessionKey::for_session("main", id),
        None,
        SessionConfig::default(),
        t0(),
    )
}

/// An idle agent `name` of instance `instance_n`, registered at `t0()`.
///
/// # Panics
/// When `name` is not a valid agent id.
#[must_use]
pub fn agent(name: &str, instance_n: u128) -> AgentRecord {
    AgentRecord::new(
        AgentId::parse(name).expect("valid agent id"),
        instance(instance_n),
        "main",
        Capabilities::parse(["rust", "review"]).expect("valid capabilities"),
        4,
        t0(),
    )
}

/// Run `n` (attempt `n`) of a task, started `n` seconds after `t0()`, not ended.
#[must_use]
pub fn run(n: u32) -> RunRecord {
    RunRecord {
        run: RunId::new(format!("run-{n}")),
        attempt: n,
        agent: AgentId::parse("a1").expect("valid agent id"),
        instance: instance(1),
        session: SessionId::from_u128(1),
        started_at: at(u64::from(n)),
        ended_at: None,
        outcome: None,
    }
}

/// Checkpoint `id` of session `session_n` of `tenant`, taken `secs` seconds after `t0()`.
#[must_use]
pub fn checkpoint(
    tenant_name: &str,
    session_n: u128,
    id: u128,
    name: Option<&str>,
    secs: u64,
) -> Checkpoint {
    Checkpoint {
        id: CheckpointId::from_u128(id),
        tenant: tenant(tenant_name),
        session: SessionId::from_u128(session_n),
        name: name.map(str::to_owned),
        state: SessionState::Running,
        data: json!({"position": id, "key": format!("agent:main:godel-{session_n}")}),
        created_at: at(secs),
    }
}

/// Event `id`: `kind` of task `task_n` of `tenant`, `id` seconds after `t0()`.
#[must_use]
pub fn event(id: u128, tenant_name: &str, task_n: u128, kind: TaskEventKind) -> Event {
    let data = TaskEvent::new(
        TaskId::from_u128(task_n),
        TaskStatus::Pending,
        Priority::High,
        0,
    );
    Event {
        id: EventId::from_u128(id),
        tenant: Some(tenant(tenant_name)),
        at: at(u64::try_from(id).unwrap_or(0)),
        body: EventBody::Task(kind, data),
    }
}
