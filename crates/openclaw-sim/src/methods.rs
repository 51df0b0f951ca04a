//! Request dispatch after the handshake: the operator scope each method needs, and the methods
//! themselves (payload shapes from the captures). Run-changing methods delegate to
//! [`runs`](crate::runs).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::frames::{Request, RpcError, new_id, now_ms, res_err, res_ok};
use crate::runs::{self, MODEL, PROVIDER, StartAfter};
use crate::server::Instance;
use crate::state::Session;

/// The methods the simulator implements (advertised in `hello-ok` `features.methods`).
pub(crate) const METHODS: &[&str] = &[
    "health",
    "status",
    "agents.list",
    "models.list",
    "sessions.list",
    "sessions.subscribe",
    "sessions.messages.subscribe",
    "sessions.create",
    "sessions.send",
    "sessions.abort",
    "sessions.reset",
    "sessions.delete",
    "chat.send",
    "chat.abort",
    "chat.history",
    "agent.wait",
];

/// The events the simulator emits (advertised in `hello-ok` `features.events`).
pub(crate) const EVENTS: &[&str] = &[
    "connect.challenge",
    "agent",
    "chat",
    "chat.metadata.changed",
    "session.message",
    "sessions.changed",
    "tick",
    "shutdown",
    "health",
];

/// The operator scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Read => "operator.read",
            Scope::Write => "operator.write",
            Scope::Admin => "operator.admin",
        }
    }
}

/// What one connection may do and wants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnCtx {
    pub(crate) id: u64,
    read: bool,
    write: bool,
    admin: bool,
}

impl ConnCtx {
    /// From the granted scopes: admin implies write and read, write implies read.
    pub(crate) fn new(id: u64, scopes: &[String]) -> Self {
        let has = |s: &str| scopes.iter().any(|g| g == s);
        let admin = has("operator.admin");
        let write = admin || has("operator.write");
        let read = write || has("operator.read");
        Self {
            id,
            read,
            write,
            admin,
        }
    }

    /// Whether the connection receives agent and chat events.
    pub(crate) fn reads(&self) -> bool {
        self.read
    }

    fn has(&self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Write => self.write,
            Scope::Admin => self.admin,
        }
    }
}

/// The scope a method needs; `None` for methods the simulator does not know.
fn required_scope(method: &str) -> Option<Scope> {
    Some(match method {
        "health"
        | "status"
        | "agents.list"
        | "models.list"
        | "sessions.list"
        | "sessions.subscribe"
        | "sessions.messages.subscribe"
        | "chat.history" => Scope::Read,
        "chat.send" | "chat.abort" | "sessions.send" | "sessions.abort" | "sessions.create"
        | "agent.wait" => Scope::Write,
        "sessions.reset" | "sessions.delete" => Scope::Admin,
        _ => return None,
    })
}

/// A future answer (`agent.wait`).
pub(crate) type Pending = Pin<Box<dyn Future<Output = Value> + Send>>;

/// How a request is answered.
pub(crate) enum Dispatch {
    /// Answer now (after the events already queued), then maybe start a run.
    Reply { frame: Value, start: StartAfter },
    /// Answer when the future resolves.
    Later(Pending),
}

fn reply(id: &str, result: Result<(Value, StartAfter), RpcError>) -> Dispatch {
    match result {
        Ok((payload, start)) => Dispatch::Reply {
            frame: res_ok(id, payload),
            start,
        },
        Err(e) => Dispatch::Reply {
            frame: res_err(id, &e),
            start: None,
        },
    }
}

/// Handles one request of a handshaken connection.
pub(crate) fn dispatch(instance: &Arc<Instance>, ctx: &ConnCtx, req: Request) -> Dispatch {
    let Request { id, method, params } = req;
    if method == "connect" {
        return reply(
            &id,
            Err(RpcError::invalid(
                "invalid request: connect is only valid as the first request",
            )),
        );
    }
    let Some(scope) = required_scope(&method) else {
        return reply(
            &id,
            Err(RpcError::invalid(format!("unknown method: {method}"))),
        );
    };
    if !ctx.has(scope) {
        return reply(&id, Err(RpcError::missing_scope(scope.name())));
    }
    let now = |v: Value| Ok((v, None));
    let result = match method.as_str() {
        "health" => now(health_payload(instance)),
        "status" => now(status_payload(instance)),
        "agents.list" => now(agents_payload(instance)),
        "models.list" => now(models_payload()),
        "sessions.list" => sessions_list(instance, &params).map(|v| (v, None)),
        "sessions.subscribe" => {
            subscribe(instance, ctx);
            now(json!({"subscribed": true}))
        }
        "sessions.messages.subscribe" => {
            subscribe(instance, ctx);
            now(json!({"subscribed": true, "key": params.get("key")}))
        }
        "chat.send" => chat_send(instance, ctx, &params, "chat.send", "sessionKey"),
        "sessions.send" => chat_send(instance, ctx, &params, "sessions.send", "key"),
        "sessions.create" => sessions_create(instance, ctx, &params),
        "agent.wait" => return agent_wait(instance, id, &params),
        "chat.abort" => chat_abort(instance, &params).map(|v| (v, None)),
        "sessions.abort" => sessions_abort(instance, &params).map(|v| (v, None)),
        "sessions.reset" => sessions_reset(instance, &params).map(|v| (v, None)),
        "sessions.delete" => sessions_delete(instance, &params).map(|v| (v, None)),
        "chat.history" => chat_history(instance, &params).map(|v| (v, None)),
        _ => Err(RpcError::invalid(format!("unknown method: {method}"))),
    };
    reply(&id, result)
}

/// Refuses params with fields outside `allowed`, as the real schema validation does.
fn check_fields(method: &str, params: &Value, allowed: &[&str]) -> Result<(), RpcError> {
    let Some(obj) = params.as_object() else {
        return Err(RpcError::invalid(format!(
            "invalid {method} params: at root: must be object"
        )));
    };
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(RpcError::invalid(format!(
            "invalid {method} params: at root: unexpected property '{unknown}'"
        ))),
        None => Ok(()),
    }
}

fn required_str<'a>(method: &str, params: &'a Value, field: &str) -> Result<&'a str, RpcError> {
    params
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            RpcError::invalid(format!(
                "invalid {method} params: at root: must have required property '{field}'"
            ))
        })
}

fn optional_str<'a>(
    method: &str,
    params: &'a Value,
    field: &str,
) -> Result<Option<&'a str>, RpcError> {
    match params.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(RpcError::invalid(format!(
            "invalid {method} params: at /{field}: must be string"
        ))),
    }
}

fn optional_u64(method: &str, params: &Value, field: &str) -> Result<Option<u64>, RpcError> {
    match params.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            RpcError::invalid(format!(
                "invalid {method} params: at /{field}: must be a non-negative integer"
            ))
        }),
    }
}

fn subscribe(instance: &Instance, ctx: &ConnCtx) {
    if let Some(conn) = instance.lock().conns.get_mut(ctx.id) {
        conn.subscribed = true;
    }
}

/// The `health` payload (also the `health` event and `hello-ok` `snapshot.health`).
pub(crate) fn health_payload(instance: &Instance) -> Value {
    let config = &instance.shared.config;
    let state = instance.lock();
    let default_agent = config.default_agent();
    let agents: Vec<Value> = config
        .agent_ids()
        .iter()
        .map(|agent| {
            let count = state
                .sessions
                .values()
                .filter(|s| &s.agent_id == agent)
                .count();
            json!({
                "agentId": agent,
                "isDefault": agent == default_agent,
                "sessions": {"count": count, "recent": []},
            })
        })
        .collect();
    json!({
        "ok": true,
        "ts": now_ms(),
        "durationMs": 0,
        "channels": {},
        "channelOrder": [],
        "channelLabels": {},
        "heartbeatSeconds": 1800,
        "defaultAgentId": default_agent,
        "agents": agents,
        "sessions": {"count": state.sessions.len(), "recent": []},
        "modelRuntime": {"degraded": false, "pendingAgents": []},
        "eventLoop": {"degraded": false, "degradedSinceMs": null, "reasons": [], "utilization": 0.0},
    })
}

fn status_payload(instance: &Instance) -> Value {
    let config = &instance.shared.config;
    let state = instance.lock();
    let sessions = state.sessions.len() as u64;
    let running = state.runs.values().filter(|r| r.is_unfinished()).count();
    let by_agent: Vec<Value> = config
        .agent_ids()
        .iter()
        .map(|agent| {
            let count = state
                .sessions
                .values()
                .filter(|s| &s.agent_id == agent)
                .count();
            json!({"agentId": agent, "count": count, "recent": []})
        })
        .collect();
    let rss = config.rss_bytes + sessions * 1024 * 1024;
    json!({
        "runtimeVersion": config.version,
        "heartbeat": {"defaultAgentId": config.default_agent(), "agents": []},
        "channelSummary": [],
        "queuedSystemEvents": [],
        "tasks": {
            "total": 0, "active": 0, "terminal": 0, "failures": 0,
            "byStatus": {"queued": 0, "running": 0, "succeeded": 0, "failed": 0, "timed_out": 0, "cancelled": 0, "lost": 0},
        },
        "sessions": {
            "paths": [],
            "count": sessions,
            "defaults": {"model": MODEL, "contextTokens": 128_000},
            "recent": [],
            "byAgent": by_agent,
        },
        "activeRuns": running,
        "modelRuntime": {"degraded": false, "pendingAgents": []},
        "eventLoop": {"degraded": false, "degradedSinceMs": null, "reasons": [], "utilization": 0.0},
        "processMemory": {
            "rssBytes": rss,
            "heapUsedBytes": rss / 3,
            "heapTotalBytes": rss / 2,
            "externalBytes": 0,
            "arrayBuffersBytes": 0,
        },
        "pid": std::process::id(),
        "uptimeMs": instance.uptime_ms(),
    })
}

fn agents_payload(instance: &Instance) -> Value {
    let config = &instance.shared.config;
    let agents: Vec<Value> = config
        .agent_ids()
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "workspace": format!("/simulator/{id}/workspace"),
                "workspaceGit": false,
                "model": {"primary": format!("{PROVIDER}/{MODEL}")},
                "thinkingDefault": "off",
                "defaultPermissionMode": "full",
            })
        })
        .collect();
    json!({
        "defaultId": config.default_agent(),
        "ownership": "sole",
        "selectionRequired": false,
        "mainKey": "main",
        "scope": "per-sender",
        "agents": agents,
    })
}

fn models_payload() -> Value {
    json!({"models": [{
        "id": MODEL, "name": "Simulated Model", "provider": PROVIDER, "contextWindow": 128_000,
        "reasoning": false, "tags": ["default"], "thinkingDefault": "off", "available": true,
    }]})
}

fn sessions_list(instance: &Instance, params: &Value) -> Result<Value, RpcError> {
    const M: &str = "sessions.list";
    let limit = optional_u64(M, params, "limit")?.unwrap_or(50).min(1000);
    let offset = optional_u64(M, params, "offset")?.unwrap_or(0);
    let active_only = params
        .get("activeOnly")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let agent = optional_str(M, params, "agentId")?;
    let now = now_ms();
    let state = instance.lock();
    let mut sessions: Vec<&Session> = state
        .sessions
        .values()
        .filter(|s| !active_only || s.active_run.is_some() || !s.queue.is_empty())
        .filter(|s| agent.is_none_or(|a| s.agent_id == a))
        .collect();
    sessions.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.key.cmp(&b.key)));
    let total = sessions.len();
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
    let end = start
        .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
        .min(total);
    let rows: Vec<Value> = sessions[start..end].iter().map(|s| s.row(now)).collect();
    let has_more = end < total;
    Ok(json!({
        "ts": now,
        "path": "(simulator)",
        "count": rows.len(),
        "totalCount": total,
        "limitApplied": limit,
        "nextOffset": if has_more { Some(end) } else { None },
        "hasMore": has_more,
        "owners": [],
        "defaults": {"modelProvider": PROVIDER, "model": MODEL, "contextTokens": 128_000},
        "sessions": rows,
    }))
}

fn chat_history(instance: &Instance, params: &Value) -> Result<Value, RpcError> {
    const M: &str = "chat.history";
    let key = required_str(M, params, "sessionKey")?;
    let limit = optional_u64(M, params, "limit")?.unwrap_or(200).min(1000);
    let state = instance.lock();
    let mut payload = Map::new();
    payload.insert("sessionKey".into(), json!(key));
    let (messages, total) = match state.sessions.get(key) {
        Some(session) => {
            payload.insert("sessionId".into(), json!(session.session_id));
            let total = session.messages.len();
            let skip = total.saturating_sub(usize::try_from(limit).unwrap_or(usize::MAX));
            (session.messages[skip..].to_vec(), total)
        }
        None => (Vec::new(), 0),
    };
    payload.insert("hasMore".into(), json!(messages.len() < total));
    payload.insert("messages".into(), Value::Array(messages));
    payload.insert("totalMessages".into(), json!(total));
    payload.insert("pendingInputs".into(), json!({"items": [], "total": 0}));
    payload.insert(
        "defaults".into(),
        json!({"modelProvider": PROVIDER, "model": MODEL, "contextTokens": 128_000}),
    );
    Ok(Value::Object(payload))
}

const CHAT_SEND_FIELDS: &[&str] = &[
    "sessionKey",
    "message",
    "idempotencyKey",
    "agentId",
    "timeoutMs",
    "thinking",
    "deliver",
    "attachments",
];
const SESSIONS_SEND_FIELDS: &[&str] = &[
    "key",
    "message",
    "idempotencyKey",
    "agentId",
    "timeoutMs",
    "thinking",
    "attachments",
];

/// `chat.send` / `sessions.send`: `{runId: idempotencyKey, status}`; `started` for a new run,
/// `in_flight` while that key's run is unfinished, `ok` once it ended. Never a second run.
fn chat_send(
    instance: &Instance,
    ctx: &ConnCtx,
    params: &Value,
    method: &str,
    key_field: &str,
) -> Result<(Value, StartAfter), RpcError> {
    let Some(key) = params
        .get(key_field)
        .and_then(Value::as_str)
        .filter(|k| !k.trim().is_empty())
    else {
        return Err(RpcError::invalid("session mutation target is unavailable")
            .with_details(json!({"code": "SESSION_MUTATION_TARGET_REQUIRED", "method": method})));
    };
    let allowed = if key_field == "key" {
        SESSIONS_SEND_FIELDS
    } else {
        CHAT_SEND_FIELDS
    };
    check_fields(method, params, allowed)?;
    let message = params
        .get("message")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            RpcError::invalid(format!(
                "invalid {method} params: at root: must have required property 'message'"
            ))
        })?;
    let run_id = required_str(method, params, "idempotencyKey")?;
    let agent = optional_str(method, params, "agentId")?;
    optional_u64(method, params, "timeoutMs")?;
    let mut state = instance.lock();
    if let Some(run) = state.runs.get(run_id) {
        let status = if matches!(run.phase, crate::state::RunPhase::Ended) {
            "ok"
        } else {
            "in_flight"
        };
        return Ok((json!({"runId": run_id, "status": status}), None));
    }
    let start = runs::start_run(instance, &mut state, ctx.id, key, agent, message, run_id)?;
    Ok((json!({"runId": run_id, "status": "started"}), start))
}

/// `sessions.create {agentId?, key?, label?, message?, model?}` → `{ok, key, sessionId,
/// runStarted, runId?}`. Like the real gateway without a device identity, an `idempotencyKey`
/// is refused.
fn sessions_create(
    instance: &Instance,
    ctx: &ConnCtx,
    params: &Value,
) -> Result<(Value, StartAfter), RpcError> {
    const M: &str = "sessions.create";
    check_fields(
        M,
        params,
        &[
            "agentId",
            "key",
            "label",
            "message",
            "model",
            "idempotencyKey",
        ],
    )?;
    if params.get("idempotencyKey").is_some() {
        return Err(RpcError::invalid(
            "idempotent session creation requires an authenticated principal or device identity",
        ));
    }
    let config = &instance.shared.config;
    let agent_param = optional_str(M, params, "agentId")?;
    let agent = agent_param.unwrap_or(config.default_agent()).to_owned();
    if !config.agent_ids().contains(&agent) {
        return Err(RpcError::invalid(format!("unknown agent id \"{agent}\"")));
    }
    let key = match optional_str(M, params, "key")? {
        Some(k) if !k.trim().is_empty() => k.to_owned(),
        _ => format!("agent:{agent}:{}", new_id()),
    };
    let label = optional_str(M, params, "label")?.map(str::to_owned);
    let message = optional_str(M, params, "message")?;
    let now = now_ms();
    let mut state = instance.lock();
    let session = state
        .sessions
        .entry(key.clone())
        .or_insert_with(|| Session::new(key.clone(), agent.clone(), now));
    if label.is_some() {
        session.label = label;
    }
    let session_id = session.session_id.clone();
    let Some(message) = message.filter(|m| !m.is_empty()) else {
        return Ok((
            json!({"ok": true, "key": key, "sessionId": session_id, "runStarted": false}),
            None,
        ));
    };
    let run_id = new_id();
    let start = runs::start_run(
        instance,
        &mut state,
        ctx.id,
        &key,
        Some(&agent),
        message,
        &run_id,
    )?;
    Ok((
        json!({"ok": true, "key": key, "sessionId": session_id, "runStarted": true, "runId": run_id}),
        start,
    ))
}

/// `agent.wait {runId, timeoutMs}`: answers when the run ends or the timeout passes
/// (`status:"timeout"`; an unknown run also times out, as on the real gateway after a restart).
fn agent_wait(instance: &Instance, id: String, params: &Value) -> Dispatch {
    const M: &str = "agent.wait";
    let parsed = check_fields(M, params, &["runId", "timeoutMs"]).and_then(|()| {
        let run_id = required_str(M, params, "runId")?.to_owned();
        let timeout = optional_u64(M, params, "timeoutMs")?.unwrap_or(30_000);
        Ok((run_id, timeout))
    });
    let (run_id, timeout_ms) = match parsed {
        Ok(p) => p,
        Err(e) => return reply(&id, Err(e)),
    };
    // At most a day: a larger timeout is the same as waiting forever for a test.
    let timeout = Duration::from_millis(timeout_ms.min(86_400_000));
    let receiver = instance
        .lock()
        .runs
        .get(&run_id)
        .map(|r| r.done.subscribe());
    Dispatch::Later(Box::pin(async move {
        let outcome = match receiver {
            Some(mut rx) => match tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await
            {
                Ok(Ok(done)) => done.clone(),
                _ => None,
            },
            None => {
                tokio::time::sleep(timeout).await;
                None
            }
        };
        res_ok(&id, runs::wait_payload(&run_id, outcome.as_ref()))
    }))
}

/// `chat.abort {sessionKey, runId?}` → `{ok, aborted, runIds}`: the named run, or the session's
/// active run and every queued one (listed queued first, as observed).
fn chat_abort(instance: &Instance, params: &Value) -> Result<Value, RpcError> {
    const M: &str = "chat.abort";
    check_fields(M, params, &["sessionKey", "runId"])?;
    let key = required_str(M, params, "sessionKey")?;
    let run_id = optional_str(M, params, "runId")?;
    let mut state = instance.lock();
    let targets: Vec<String> = state.sessions.get(key).map_or_else(Vec::new, |session| {
        let ids = session.run_ids();
        match run_id {
            Some(r) => ids.into_iter().filter(|id| id == r).collect(),
            None => ids,
        }
    });
    let mut aborted: Vec<String> = targets
        .into_iter()
        .filter(|id| runs::abort(&mut state, id))
        .collect();
    if aborted.len() > 1 {
        aborted.rotate_left(1);
    }
    Ok(json!({"ok": true, "aborted": !aborted.is_empty(), "runIds": aborted}))
}

/// `sessions.abort {key?, runId?, clearQueued?}` → `{ok, abortedRunId, status}`.
fn sessions_abort(instance: &Instance, params: &Value) -> Result<Value, RpcError> {
    const M: &str = "sessions.abort";
    check_fields(M, params, &["key", "runId", "clearQueued"])?;
    let key = optional_str(M, params, "key")?;
    let run_id = optional_str(M, params, "runId")?;
    let clear_queued = params
        .get("clearQueued")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if key.is_none() && run_id.is_none() {
        return Err(RpcError::invalid(
            "invalid sessions.abort params: key or runId required",
        ));
    }
    let mut state = instance.lock();
    let session = key.and_then(|k| state.sessions.get(k));
    let target = match run_id {
        Some(r) => state
            .runs
            .get(r)
            .filter(|run| key.is_none_or(|k| run.session_key == k))
            .map(|run| run.id.clone()),
        None => session.and_then(|s| s.active_run.clone()),
    };
    let queued: Vec<String> = if clear_queued {
        session.map_or_else(Vec::new, |s| s.queue.iter().cloned().collect())
    } else {
        Vec::new()
    };
    let aborted = target.filter(|id| runs::abort(&mut state, id));
    for id in queued {
        runs::abort(&mut state, &id);
    }
    Ok(match aborted {
        Some(id) => json!({"ok": true, "abortedRunId": id, "status": "aborted"}),
        None => json!({"ok": true, "abortedRunId": null, "status": "no-active-run"}),
    })
}

/// `sessions.reset {key, reason?}` → `{ok, key, entry}`: aborts the session's runs and starts a
/// new transcript (new `sessionId`).
fn sessions_reset(instance: &Instance, params: &Value) -> Result<Value, RpcError> {
    const M: &str = "sessions.reset";
    check_fields(M, params, &["key", "reason"])?;
    let key = required_str(M, params, "key")?;
    let now = now_ms();
    let mut state = instance.lock();
    let agent = match state.sessions.get(key) {
        Some(s) => {
            for id in s.run_ids() {
                runs::abort(&mut state, &id);
            }
            state.sessions.get(key).map(|s| s.agent_id.clone())
        }
        None => None,
    };
    let agent = match agent {
        Some(a) => a,
        None => {
            let from_key = key
                .strip_prefix("agent:")
                .and_then(|rest| rest.split(':').next());
            from_key
                .unwrap_or(instance.shared.config.default_agent())
                .to_owned()
        }
    };
    let fresh = Session::new(key.to_owned(), agent, now);
    let entry = fresh.row(now);
    state.sessions.insert(key.to_owned(), fresh);
    Ok(json!({"ok": true, "key": key, "entry": entry}))
}

/// `sessions.delete {key, deleteTranscript?}` → `{ok, key, deleted}`; aborts the session's runs.
fn sessions_delete(instance: &Instance, params: &Value) -> Result<Value, RpcError> {
    const M: &str = "sessions.delete";
    check_fields(M, params, &["key", "deleteTranscript"])?;
    let key = required_str(M, params, "key")?;
    let mut state = instance.lock();
    let ids = state
        .sessions
        .get(key)
        .map_or_else(Vec::new, Session::run_ids);
    for id in ids {
        runs::abort(&mut state, &id);
    }
    let deleted = state.sessions.remove(key).is_some();
    Ok(json!({"ok": true, "key": key, "deleted": deleted}))
}
