//! Metric names, in one place (PRD 12.1 names where the contract gives one).

/// Counter: tasks accepted, by priority and tenant.
pub const TASKS_CREATED: &str = "dash_tasks_created_total";
/// Counter: tasks that reached an end of an attempt, by priority and status.
pub const TASKS_COMPLETED: &str = "dash_tasks_completed_total";
/// Histogram: seconds from a run's start to its end, by priority.
pub const TASK_DURATION: &str = "dash_task_duration_seconds";
/// Histogram: seconds from a task becoming due (accepted) to its run starting on a gateway.
pub const DISPATCH_LATENCY: &str = "dash_dispatch_latency_seconds";
/// Counter: errors, by type and component.
pub const ERRORS: &str = "dash_errors_total";
/// Counter: domain events published, by event name.
pub const EVENTS_PUBLISHED: &str = "dash_events_published_total";
/// Counter: events the audit writer could not record.
pub const AUDIT_EVENTS_DROPPED: &str = "dash_audit_events_dropped_total";
/// Gauge: sessions open.
pub const SESSIONS_ACTIVE: &str = "dash_sessions_active";
/// Histogram: seconds a gateway instance took to answer its health probe.
pub const AGENT_HEARTBEAT_LATENCY: &str = "dash_agent_heartbeat_latency_seconds";
/// Counter: circuit-breaker transitions of gateway instances, by instance and new state
/// (`open`, `closed`).
pub const CIRCUIT_BREAKER_TRANSITIONS: &str = "dash_circuit_breaker_transitions_total";
