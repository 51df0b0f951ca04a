//! Writing the security audit log (PRD SR-7) without slowing answers: entries are appended in a
//! spawned task and a failure is logged. Also the audit layer of the API routes, which records
//! every 403 and every successful change (non-GET).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use godel_engine::access::{AuditEntry, AuditOutcome};
use godel_types::{AuditId, TenantId};
use time::OffsetDateTime;

use crate::auth::Principal;
use crate::request_id::RequestId;
use crate::state::AppState;

/// What an audit entry says about one request.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) tenant: Option<TenantId>,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) outcome: AuditOutcome,
    pub(crate) target: Option<String>,
    pub(crate) details: serde_json::Value,
}

/// Appends `record` for `request` in the background.
pub(crate) fn spawn(state: &AppState, request: &RequestFacts, record: Record) {
    let entry = AuditEntry {
        id: AuditId::generate(),
        at: OffsetDateTime::now_utc(),
        tenant: record.tenant,
        actor: record.actor,
        action: record.action,
        outcome: record.outcome,
        target: record.target,
        request_id: request.request_id.clone(),
        remote_addr: request.remote_addr.clone(),
        details: record.details,
    };
    let log = state.audit().clone();
    tokio::spawn(async move {
        if let Err(e) = log.append(std::slice::from_ref(&entry)).await {
            tracing::error!(error = %e, action = %entry.action, "audit append failed");
        }
    });
}

/// What the audit log keeps of a request, taken before it is handed on.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestFacts {
    pub(crate) request_id: Option<String>,
    pub(crate) remote_addr: Option<String>,
    pub(crate) method: Method,
    pub(crate) path: String,
}

impl RequestFacts {
    pub(crate) fn of(request: &Request) -> Self {
        Self {
            request_id: request.extensions().get::<RequestId>().map(|r| r.0.clone()),
            remote_addr: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.to_string()),
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        }
    }
}

/// Route layer of the API: records 403s and successful non-GET requests, and names the route
/// in the request's span.
pub(crate) async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let facts = RequestFacts::of(&request);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    if let Some(route) = &route {
        tracing::Span::current().record("route", route.as_str());
    }
    let principal = request.extensions().get::<Principal>().cloned();
    let response = next.run(request).await;
    let status = response.status();
    let mutating = !matches!(facts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let outcome = if status == axum::http::StatusCode::FORBIDDEN {
        AuditOutcome::Forbidden
    } else if mutating && status.is_success() {
        AuditOutcome::Success
    } else {
        return response;
    };
    let template = route.as_deref().unwrap_or(&facts.path);
    let (action, target) = action_of(&facts.method, template, &facts.path);
    spawn(
        &state,
        &facts,
        Record {
            tenant: principal.as_ref().map(|p| p.tenant.clone()),
            actor: principal.map_or_else(|| "anonymous".to_owned(), |p| p.actor()),
            action,
            outcome,
            target: Some(target),
            details: serde_json::json!({
                "method": facts.method.as_str(),
                "status": status.as_u16(),
            }),
        },
    );
    response
}

/// Strips the mount prefix (`/api/v1`, `/api`, `/pi`) from a route template.
fn strip_mount(template: &str) -> &str {
    ["/api/v1", "/api", "/pi"]
        .iter()
        .find_map(|p| {
            template
                .strip_prefix(p)
                .filter(|rest| rest.starts_with('/'))
        })
        .unwrap_or(template)
}

/// The audit action (`task.cancel`, `api_key.create`, ...) and target (the path's id, else the
/// path) of a request to route `template`.
pub(crate) fn action_of(method: &Method, template: &str, path: &str) -> (String, String) {
    let template = strip_mount(template);
    let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let path_parts: Vec<&str> = strip_mount(path)
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let Some(resource) = parts.first() else {
        return (
            format!("{}.{}", method.as_str().to_lowercase(), "root"),
            path.to_owned(),
        );
    };
    let resource = resource.trim_end_matches('s').replace('-', "_");
    let verb = match (parts.get(1..), method) {
        (Some([_, verb]), _) if !verb.starts_with('{') => (*verb).to_owned(),
        (Some([verb]), _) if !verb.starts_with('{') => (*verb).to_owned(),
        (_, &Method::DELETE) if resource == "api_key" => "revoke".to_owned(),
        (_, &Method::DELETE) if resource == "instance" => "deregister".to_owned(),
        (_, &Method::DELETE) => "delete".to_owned(),
        (_, &Method::POST) if resource == "agent" || resource == "instance" => {
            "register".to_owned()
        }
        (_, &Method::POST) => "create".to_owned(),
        (_, m) => m.as_str().to_lowercase(),
    };
    let target = parts
        .iter()
        .position(|p| p.starts_with('{'))
        .and_then(|i| path_parts.get(i))
        .map_or_else(|| path.to_owned(), |s| (*s).to_owned());
    (format!("{resource}.{verb}"), target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_after_resource_and_verb() {
        let cases = [
            (
                Method::POST,
                "/api/v1/tasks",
                "/api/v1/tasks",
                "task.create",
                "/api/v1/tasks",
            ),
            (
                Method::POST,
                "/api/v1/tasks/{id}/cancel",
                "/api/v1/tasks/abc/cancel",
                "task.cancel",
                "abc",
            ),
            (
                Method::POST,
                "/api/dead-letter/replay",
                "/api/dead-letter/replay",
                "dead_letter.replay",
                "/api/dead-letter/replay",
            ),
            (
                Method::POST,
                "/api/v1/api-keys",
                "/api/v1/api-keys",
                "api_key.create",
                "/api/v1/api-keys",
            ),
            (
                Method::DELETE,
                "/api/v1/api-keys/{id}",
                "/api/v1/api-keys/k1",
                "api_key.revoke",
                "k1",
            ),
            (
                Method::DELETE,
                "/pi/instances/{id}",
                "/pi/instances/i1",
                "instance.deregister",
                "i1",
            ),
            (
                Method::POST,
                "/api/v1/agents",
                "/api/v1/agents",
                "agent.register",
                "/api/v1/agents",
            ),
            (
                Method::POST,
                "/api/v1/sessions/{id}/migrate",
                "/api/v1/sessions/s1/migrate",
                "session.migrate",
                "s1",
            ),
        ];
        for (method, template, path, action, target) in cases {
            assert_eq!(
                action_of(&method, template, path),
                (action.to_owned(), target.to_owned()),
                "{method} {template}"
            );
        }
    }
}
