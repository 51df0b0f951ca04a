//! `godel status`: health, queue depth by priority, agents and instances on one screen. The
//! four requests go out at once; a section that fails says so without hiding the others.

use std::future::IntoFuture as _;

use godel::client::ClientError;
use serde_json::{Value, json};

use super::{Ctx, out, print_json};
use crate::render;

pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let client = &ctx.client;
    if ctx.json {
        let (health, depth, agents, instances) = tokio::join!(
            client.health().raw(),
            client.queue_depth().raw(),
            client.list_agents().raw(),
            client.list_instances().raw(),
        );
        let results = [health, depth, agents, instances];
        if let Some(e) = all_unreachable(&results) {
            return Err(e.into());
        }
        let [health, depth, agents, instances] = results.map(section_json);
        return print_json(&json!({
            "health": health,
            "queue_depth": depth,
            "agents": agents,
            "instances": instances,
        }));
    }
    let (health, depth, agents, instances) = tokio::join!(
        client.health().into_future(),
        client.queue_depth().into_future(),
        client.list_agents().into_future(),
        client.list_instances().into_future(),
    );
    if let (Err(ClientError::Connect { url, source }), Err(ClientError::Connect { .. })) =
        (&health, &depth)
    {
        return Err(ClientError::Connect {
            url: url.clone(),
            source: source.to_string().into(),
        }
        .into());
    }
    let mut text = format!("Godel at {}\n\n", client.base_url());
    text.push_str(&section("health", health.as_ref().map(render::health)));
    text.push_str(&section("queue", depth.as_ref().map(render::depth)));
    text.push_str(&section("agents", agents.as_ref().map(render::agents)));
    text.push_str(&section(
        "instances",
        instances.as_ref().map(render::instances),
    ));
    out(&text)
}

/// A titled section, or the error that replaced it.
fn section(title: &str, body: Result<String, &ClientError>) -> String {
    match body {
        Ok(body) => format!("== {title}\n{body}\n"),
        Err(e) => format!("== {title}\nunavailable: {e}\n\n"),
    }
}

/// The error to report when no request reached the server.
fn all_unreachable(results: &[Result<Value, ClientError>]) -> Option<ClientError> {
    let unreachable = results
        .iter()
        .all(|r| matches!(r, Err(ClientError::Connect { .. })));
    if !unreachable {
        return None;
    }
    match results.first() {
        Some(Err(ClientError::Connect { url, source })) => Some(ClientError::Connect {
            url: url.clone(),
            source: source.to_string().into(),
        }),
        _ => None,
    }
}

/// A section's JSON, or `{"error": ...}` when it failed.
fn section_json(result: Result<Value, ClientError>) -> Value {
    match result {
        Ok(v) => v,
        Err(e) => json!({ "error": { "code": e.code(), "message": e.to_string() } }),
    }
}
