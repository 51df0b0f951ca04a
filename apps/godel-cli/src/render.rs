//! Human output: aligned tables and short detail views. Every function returns the text, so
//! tests can read it; `now` is passed in so ages are deterministic.

use std::fmt::Write as _;

use godel::client::{
    AgentRecord, AgentStatusView, ApiKeyCreated, ApiKeyInfo, EventMessage, Health, Instance,
    InstanceHealthReport, Listing, OffsetDateTime, Page, Priority, QueueDepth, SessionRecord, Task,
    TaskStatus,
};

/// Columns separated by two spaces, left-aligned, headers first; trailing spaces trimmed.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `text` cut to `max` characters, with `…` when cut; newlines become spaces.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// A duration in its largest whole unit: `42s`, `5m`, `3h`, `2d`.
pub(crate) fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// How long ago `at` was, seen from `now`.
pub(crate) fn age(at: OffsetDateTime, now: OffsetDateTime) -> String {
    duration((now - at).whole_seconds())
}

/// RFC 3339, or the debug form if it cannot be formatted.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The prompt of a task's payload, or its JSON.
fn prompt(task: &Task) -> String {
    match task.payload.get("prompt").and_then(|p| p.as_str()) {
        Some(p) => p.to_owned(),
        None => task.payload.to_string(),
    }
}

/// Attempts used so far: the failed ones (`attempt_count`) plus the one under way or the one
/// that completed.
pub(crate) fn attempts_used(status: TaskStatus, failed_attempts: u32) -> u32 {
    match status {
        TaskStatus::Assigned | TaskStatus::Running | TaskStatus::Completed => {
            failed_attempts.saturating_add(1)
        }
        _ => failed_attempts,
    }
}

/// A page of tasks, with how to get the next one.
pub(crate) fn tasks(page: &Page<Task>, now: OffsetDateTime) -> String {
    if page.items.is_empty() {
        return "no tasks\n".to_owned();
    }
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.status.to_string(),
                t.priority.to_string(),
                format!(
                    "{}/{}",
                    attempts_used(t.status, t.attempt_count),
                    t.max_attempts
                ),
                or_dash(t.agent_id.as_ref()),
                age(t.created_at, now),
                truncate(&prompt(t), 48),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "ID", "STATUS", "PRIORITY", "ATTEMPTS", "AGENT", "AGE", "PROMPT",
        ],
        &rows,
    );
    footer(
        &mut out,
        page.items.len(),
        page.total,
        page.next_cursor.as_deref(),
    );
    out
}

fn footer(out: &mut String, shown: usize, total: u64, cursor: Option<&str>) {
    let _ = write!(out, "{shown} of {total}");
    if let Some(c) = cursor {
        let _ = write!(out, "; next page: --cursor {c}");
    }
    out.push('\n');
}

/// One task in detail.
pub(crate) fn task(task: &Task, now: OffsetDateTime) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("id", task.id.to_string()),
        ("status", task.status.to_string()),
        ("priority", task.priority.to_string()),
        (
            "attempts",
            format!(
                "{} of {}",
                attempts_used(task.status, task.attempt_count),
                task.max_attempts
            ),
        ),
        ("agent", or_dash(task.agent_id.as_ref())),
        ("session", or_dash(task.session_id)),
        ("team", or_dash(task.team_id)),
        (
            "created",
            format!(
                "{} ({} ago)",
                timestamp(task.created_at),
                age(task.created_at, now)
            ),
        ),
    ];
    if let Some(at) = task.started_at {
        rows.push(("started", timestamp(at)));
    }
    if let Some(at) = task.finished_at {
        rows.push(("finished", timestamp(at)));
    }
    if let Some(at) = task.due_at {
        rows.push(("due", timestamp(at)));
    }
    if !task.capabilities.is_empty() {
        let caps: Vec<&str> = task.capabilities.iter().map(|c| c.as_str()).collect();
        rows.push(("capabilities", caps.join(", ")));
    }
    if task.cancel_requested {
        rows.push(("cancel", "requested".to_owned()));
    }
    rows.push(("prompt", truncate(&prompt(task), 200)));
    if let Some(e) = &task.last_error {
        rows.push(("last error", truncate(e, 200)));
    }
    if let Some(r) = &task.result {
        rows.push(("result", truncate(&r.to_string(), 200)));
    }
    fields(&rows)
}

/// `key: value` lines with aligned values.
fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<width$}  {v}");
    }
    out
}

/// Queue depth: due tasks by priority, then the other counters, then tenants.
pub(crate) fn depth(depth: &QueueDepth) -> String {
    let mut rows: Vec<Vec<String>> = Priority::ALL
        .iter()
        .map(|p| vec![p.to_string(), depth.by_priority.at(*p).to_string()])
        .collect();
    rows.push(vec!["total due".into(), depth.due().to_string()]);
    for (name, count) in [
        ("scheduled", depth.scheduled),
        ("running", depth.running),
        ("dead letter", depth.dead_letter),
    ] {
        if let Some(c) = count {
            rows.push(vec![name.into(), c.to_string()]);
        }
    }
    let mut out = table(&["PRIORITY", "TASKS"], &rows);
    if !depth.by_tenant.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = depth
            .by_tenant
            .iter()
            .map(|(tenant, c)| {
                let mut row = vec![tenant.clone()];
                row.extend(Priority::ALL.iter().map(|p| c.at(*p).to_string()));
                row.push(c.total().to_string());
                row
            })
            .collect();
        out.push_str(&table(
            &["TENANT", "CRITICAL", "HIGH", "MEDIUM", "LOW", "TOTAL"],
            &rows,
        ));
    }
    out
}

/// A task's event history.
pub(crate) fn events(events: &Listing<EventMessage>) -> String {
    if events.items.is_empty() {
        return "no events\n".to_owned();
    }
    let rows: Vec<Vec<String>> = events
        .items
        .iter()
        .map(|e| {
            let detail = |field: &str| {
                e.data
                    .get(field)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let attempt = e
                .data
                .get("attempt_count")
                .and_then(serde_json::Value::as_u64);
            vec![
                e.timestamp.clone(),
                e.event.clone(),
                detail("status").unwrap_or_else(|| "-".into()),
                or_dash(attempt),
                truncate(
                    &detail("message")
                        .or_else(|| detail("agent_id"))
                        .unwrap_or_default(),
                    60,
                ),
            ]
        })
        .collect();
    table(&["TIME", "EVENT", "STATUS", "ATTEMPT", "DETAIL"], &rows)
}

/// Agents.
pub(crate) fn agents(agents: &Listing<AgentRecord>) -> String {
    if agents.items.is_empty() {
        return "no agents\n".to_owned();
    }
    let rows: Vec<Vec<String>> = agents
        .items
        .iter()
        .map(|a| {
            let caps: Vec<&str> = a.capabilities.iter().map(|c| c.as_str()).collect();
            vec![
                a.id.to_string(),
                a.status.to_string(),
                a.instance.to_string(),
                a.max_capacity.to_string(),
                truncate(&caps.join(","), 40),
            ]
        })
        .collect();
    table(
        &["ID", "STATUS", "INSTANCE", "CAPACITY", "CAPABILITIES"],
        &rows,
    )
}

/// One agent with its live load.
pub(crate) fn agent_status(view: &AgentStatusView) -> String {
    let a = &view.agent;
    let caps: Vec<&str> = a.capabilities.iter().map(|c| c.as_str()).collect();
    fields(&[
        ("id", a.id.to_string()),
        ("status", a.status.to_string()),
        ("instance", a.instance.to_string()),
        ("gateway agent", a.gateway_agent.clone()),
        (
            "load",
            format!("{} of {} tasks", view.active_tasks, a.max_capacity),
        ),
        ("queue depth", view.queue_depth.to_string()),
        (
            "capabilities",
            or_dash((!caps.is_empty()).then(|| caps.join(", "))),
        ),
        ("registered", timestamp(a.registered_at)),
    ])
}

/// Sessions.
pub(crate) fn sessions(sessions: &Listing<SessionRecord>, now: OffsetDateTime) -> String {
    if sessions.items.is_empty() {
        return "no sessions\n".to_owned();
    }
    let rows: Vec<Vec<String>> = sessions
        .items
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.state.to_string(),
                s.agent.to_string(),
                or_dash(s.team),
                or_dash(s.active_task),
                age(s.created_at, now),
            ]
        })
        .collect();
    let mut out = table(&["ID", "STATE", "AGENT", "TEAM", "TASK", "AGE"], &rows);
    footer(
        &mut out,
        sessions.items.len(),
        sessions.total,
        sessions.next_cursor.as_deref(),
    );
    out
}

/// One session with its state history.
pub(crate) fn session(s: &SessionRecord) -> String {
    let mut out = fields(&[
        ("id", s.id.to_string()),
        ("state", s.state.to_string()),
        ("agent", s.agent.to_string()),
        ("instance", s.instance.to_string()),
        ("team", or_dash(s.team)),
        ("active task", or_dash(s.active_task)),
        ("last checkpoint", or_dash(s.last_checkpoint)),
        ("created", timestamp(s.created_at)),
        ("updated", timestamp(s.updated_at)),
    ]);
    if !s.history.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = s
            .history
            .iter()
            .map(|c| {
                vec![
                    timestamp(c.at),
                    c.from.to_string(),
                    c.to.to_string(),
                    or_dash(c.reason.as_deref()),
                ]
            })
            .collect();
        out.push_str(&table(&["AT", "FROM", "TO", "REASON"], &rows));
    }
    out
}

/// Gateway instances.
pub(crate) fn instances(instances: &Listing<Instance>) -> String {
    if instances.items.is_empty() {
        return "no instances\n".to_owned();
    }
    let rows: Vec<Vec<String>> = instances
        .items
        .iter()
        .map(|i| {
            let mut health = i.health.to_string();
            if i.draining {
                health.push_str(" (draining)");
            }
            vec![
                i.id.to_string(),
                i.endpoint.clone(),
                health,
                format!("{}/{}", i.load, i.max_sessions),
                or_dash(i.region.as_deref()),
            ]
        })
        .collect();
    table(&["ID", "ENDPOINT", "HEALTH", "LOAD", "REGION"], &rows)
}

/// One instance's health.
pub(crate) fn instance_health(report: &InstanceHealthReport) -> String {
    fields(&[
        ("id", or_dash(report.id.as_deref())),
        ("endpoint", or_dash(report.endpoint.as_deref())),
        ("health", report.health.clone()),
        (
            "load",
            match (report.load, report.max_sessions) {
                (Some(l), Some(m)) => format!("{l} of {m} sessions"),
                (Some(l), None) => l.to_string(),
                _ => "-".into(),
            },
        ),
        (
            "latency",
            or_dash(report.latency_ms.map(|ms| format!("{ms:.1} ms"))),
        ),
        ("last heartbeat", or_dash(report.last_heartbeat.as_deref())),
        ("draining", or_dash(report.draining)),
        ("message", or_dash(report.message.as_deref())),
    ])
}

/// API keys.
pub(crate) fn keys(keys: &Listing<ApiKeyInfo>) -> String {
    if keys.items.is_empty() {
        return "no API keys\n".to_owned();
    }
    let rows: Vec<Vec<String>> = keys
        .items
        .iter()
        .map(|k| {
            vec![
                k.id.clone(),
                k.name.clone(),
                k.role.clone(),
                k.prefix.clone(),
                or_dash(k.created_at.as_deref()),
                or_dash(k.last_used_at.as_deref()),
                or_dash(k.revoked_at.as_deref()),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "NAME",
            "ROLE",
            "PREFIX",
            "CREATED",
            "LAST USED",
            "REVOKED",
        ],
        &rows,
    )
}

/// A new key, with its secret and a warning that it is shown once.
pub(crate) fn key_created(created: &ApiKeyCreated) -> String {
    let mut out = fields(&[
        ("id", created.key.id.clone()),
        ("name", created.key.name.clone()),
        ("role", created.key.role.clone()),
        ("key", created.secret.clone()),
    ]);
    out.push_str("store the key now: it is not shown again\n");
    out
}

/// The server's health and its checks.
pub(crate) fn health(health: &Health) -> String {
    let mut out = format!(
        "server    {} (version {})\n",
        health.status,
        if health.version.is_empty() {
            "?"
        } else {
            &health.version
        }
    );
    if !health.checks.is_empty() {
        let rows: Vec<Vec<String>> = health
            .checks
            .iter()
            .map(|(name, c)| {
                vec![
                    name.clone(),
                    c.status.clone(),
                    or_dash(c.latency_ms.map(|ms| format!("{ms:.1} ms"))),
                    truncate(c.message.as_deref().unwrap_or_default(), 60),
                ]
            })
            .collect();
        out.push_str(&table(&["CHECK", "STATUS", "LATENCY", "MESSAGE"], &rows));
    }
    out
}

/// The one-line progress display of `godel do --follow`: `status · attempt · elapsed`.
/// `failed_attempts` is the task's `attempt_count` (attempts that failed); a leased or
/// completed task is on the attempt after those.
pub(crate) fn progress(
    status: TaskStatus,
    failed_attempts: u32,
    max_attempts: u32,
    elapsed: i64,
) -> String {
    let current = attempts_used(status, failed_attempts);
    let attempt = if current == 0 {
        "not started".to_owned()
    } else {
        format!("attempt {current}/{max_attempts}")
    };
    format!("{status} · {attempt} · {}", duration(elapsed))
}

#[cfg(test)]
mod tests {
    use godel::client::{PriorityCounts, TaskId};
    use serde_json::json;

    use super::*;

    fn at(rfc3339: &str) -> OffsetDateTime {
        OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).unwrap()
    }

    fn task(n: u128, status: &str, prompt: &str) -> Task {
        serde_json::from_value(json!({
            "id": TaskId::from_u128(n).to_string(), "tenant_id": "acme", "status": status,
            "priority": "high", "payload": {"prompt": prompt}, "capabilities": [],
            "attempt_count": 1, "max_attempts": 3, "agent_id": "agent-1", "session_id": null,
            "team_id": null, "parent_id": null, "depends_on": [], "timeout_s": null,
            "cancel_requested": false, "last_error": null, "result": null, "runs": [],
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "due_at": null, "started_at": null, "finished_at": null, "dead_lettered_at": null
        }))
        .unwrap()
    }

    #[test]
    fn tables_align_columns_and_trim_trailing_space() {
        let t = table(
            &["A", "LONG HEADER"],
            &[
                vec!["wide cell".into(), "x".into()],
                vec!["b".into(), String::new()],
            ],
        );
        assert_eq!(t, "A          LONG HEADER\nwide cell  x\nb\n");
    }

    #[test]
    fn a_task_page_shows_one_row_per_task_and_the_next_cursor() {
        let page = Page {
            items: vec![
                task(1, "running", "fix the flaky auth test"),
                task(2, "dead_letter", &"x".repeat(100)),
            ],
            next_cursor: Some("c2".into()),
            total: 7,
        };
        let out = tasks(&page, at("2026-01-01T00:05:30Z"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(
            lines[0].starts_with("ID") && lines[0].contains("STATUS"),
            "{out}"
        );
        assert!(
            lines[1].contains(&TaskId::from_u128(1).to_string()),
            "{out}"
        );
        assert!(
            lines[1].contains("running") && lines[1].contains("2/3"),
            "{out}"
        );
        assert!(lines[1].contains("5m30s") && lines[1].contains("fix the flaky auth test"));
        assert!(
            lines[2].contains("dead_letter") && lines[2].ends_with('…'),
            "{out}"
        );
        assert_eq!(lines[3], "2 of 7; next page: --cursor c2");
        let status_col = lines[0].find("STATUS").unwrap();
        assert_eq!(lines[1].find("running"), Some(status_col), "{out}");

        let empty = Page::<Task> {
            items: vec![],
            next_cursor: None,
            total: 0,
        };
        assert_eq!(tasks(&empty, at("2026-01-01T00:00:00Z")), "no tasks\n");
    }

    #[test]
    fn depth_lists_every_priority_and_the_extra_counters() {
        let depth = QueueDepth {
            by_priority: PriorityCounts {
                critical: 1,
                high: 0,
                medium: 12,
                low: 3,
            },
            scheduled: Some(2),
            dead_letter: Some(4),
            ..QueueDepth::default()
        };
        let out = super::depth(&depth);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "PRIORITY     TASKS");
        assert_eq!(lines[1], "critical     1");
        assert_eq!(lines[3], "medium       12");
        assert_eq!(lines[5], "total due    16");
        assert!(
            out.contains("scheduled    2") && out.contains("dead letter  4"),
            "{out}"
        );
        assert!(
            !out.contains("running"),
            "an unknown counter is not shown: {out}"
        );
    }

    #[test]
    fn task_detail_shows_the_prompt_and_attempts() {
        let out = super::task(&task(3, "failed", "deploy"), at("2026-01-01T01:00:00Z"));
        assert!(out.contains("attempts  1 of 3"), "{out}");
        assert!(out.contains("prompt    deploy"), "{out}");
        assert!(out.contains("2026-01-01T00:00:00Z (1h00m ago)"), "{out}");
    }

    #[test]
    fn durations_and_progress_read_naturally() {
        assert_eq!(duration(-3), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(61), "1m01s");
        assert_eq!(duration(7322), "2h02m");
        assert_eq!(duration(90_000), "1d01h");
        assert_eq!(
            progress(TaskStatus::Running, 1, 3, 75),
            "running · attempt 2/3 · 1m15s"
        );
        assert_eq!(
            progress(TaskStatus::Pending, 0, 3, 1),
            "pending · not started · 1s"
        );
        assert_eq!(
            progress(TaskStatus::Failed, 1, 3, 5),
            "failed · attempt 1/3 · 5s"
        );
        assert_eq!(truncate("a\nb", 10), "a b");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
