//! What a queue script answers: a JSON object with the operation's output, the tenant's
//! summary (`sum`) and the limit keys to uncount (`release`), or an `err` kind.

use godel_queue::{LeaseRefusal, QueueError, TaskId, TaskStatus, TenantId};
use serde_json::Value;

/// The items of a JSON list; Lua's `cjson` writes an empty list as `{}`.
pub(crate) fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// A string field (`""` when absent).
pub(crate) fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A task id field, or `fallback` when absent or unreadable.
fn task_field(value: &Value, field: &str, fallback: TaskId) -> TaskId {
    TaskId::parse(text(value, field)).unwrap_or(fallback)
}

/// The error a script reported, if any; `task` is the task the operation was about.
pub(crate) fn error_of(reply: &Value, task: TaskId, tenant: &TenantId) -> Option<QueueError> {
    let kind = reply.get("err")?.as_str()?;
    let stale = |reason| QueueError::StaleLease { task, reason };
    let status = |field| {
        text(reply, field)
            .parse::<TaskStatus>()
            .unwrap_or(TaskStatus::Pending)
    };
    Some(match kind {
        "not_found" => QueueError::NotFound(task_field(reply, "task", task)),
        "not_leased" => stale(LeaseRefusal::NotLeased),
        "superseded" => stale(LeaseRefusal::Superseded),
        "expired" => stale(LeaseRefusal::Expired),
        "illegal" => QueueError::IllegalTransition {
            task,
            from: status("from"),
            to: TaskStatus::Cancelled,
        },
        "not_dead" => QueueError::NotDeadLettered {
            task: task_field(reply, "task", task),
            status: status("from"),
        },
        "already_exists" => QueueError::AlreadyExists(task_field(reply, "task", task)),
        "unknown_dependency" => QueueError::UnknownDependency {
            task: task_field(reply, "task", task),
            dependency: task_field(reply, "other", task),
        },
        "unknown_parent" => QueueError::UnknownParent {
            task: task_field(reply, "task", task),
            parent: task_field(reply, "other", task),
        },
        "queue_full" => QueueError::QueueFull {
            tenant: tenant.clone(),
            limit: reply.get("limit").and_then(Value::as_u64).unwrap_or(0),
        },
        other => QueueError::Unavailable {
            message: format!("queue script failed: {other}"),
            source: None,
        },
    })
}
