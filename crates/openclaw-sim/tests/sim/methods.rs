//! Methods other than runs: scopes, unknown methods, read methods, session management.

use godel_openclaw_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::support::{connect_params, connected, connected_with, is_chat_terminal, send_params};

#[tokio::test]
async fn a_missing_scope_is_forbidden_with_missing_scope_details() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut params = connect_params(None);
    params["client"] = json!({"id": "cli", "version": "0.1.0", "platform": "linux", "mode": "cli"});
    params["scopes"] = json!(["operator.read"]);
    let mut reader = connected_with(&gateway.endpoint(), params).await;
    let res = reader
        .call("chat.send", send_params("agent:main:x", "hi", "k1"))
        .await;
    assert_eq!(res["ok"], false);
    assert_eq!(
        res["error"],
        json!({
            "code": "FORBIDDEN",
            "message": "missing scope: operator.write",
            "details": {"code": "MISSING_SCOPE", "missingScope": "operator.write", "requiredScopes": ["operator.write"]},
        })
    );
    for (method, scope) in [
        ("agent.wait", "operator.write"),
        ("chat.abort", "operator.write"),
        ("sessions.abort", "operator.write"),
        ("sessions.reset", "operator.admin"),
    ] {
        let res = reader.call(method, json!({"key": "agent:main:x"})).await;
        assert_eq!(res["error"]["details"]["missingScope"], scope, "{method}");
    }
    assert_eq!(reader.ok("health", json!({})).await["ok"], true);
    let history = reader
        .ok(
            "chat.history",
            json!({"sessionKey": "agent:main:never-existed"}),
        )
        .await;
    assert_eq!(history["messages"], json!([]));
}

#[tokio::test]
async fn an_unknown_method_is_an_invalid_request_and_the_connection_stays_open() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    let res = client.call("no.such.method", json!({})).await;
    assert_eq!(
        res["error"],
        json!({"code": "INVALID_REQUEST", "message": "unknown method: no.such.method"})
    );
    let bogus = client.call("chat.send", json!({"bogus": 1})).await;
    assert_eq!(
        bogus["error"]["details"]["code"],
        "SESSION_MUTATION_TARGET_REQUIRED"
    );
    assert_eq!(client.ok("health", json!({})).await["ok"], true);
}

#[tokio::test]
async fn read_methods_describe_the_gateway() {
    let gateway = Simulator::start(SimConfig::default().with_agents(["main", "coder"]))
        .await
        .unwrap();
    let mut client = connected(&gateway).await;
    let health = client.ok("health", json!({})).await;
    assert_eq!(health["defaultAgentId"], "main");
    assert_eq!(health["agents"].as_array().unwrap().len(), 2);
    let status = client.ok("status", json!({})).await;
    assert!(status["processMemory"]["rssBytes"].as_u64().unwrap() > 0);
    let agents = client.ok("agents.list", json!({})).await;
    assert_eq!(agents["defaultId"], "main");
    assert_eq!(agents["agents"][1]["id"], "coder");
    let models = client.ok("models.list", json!({})).await;
    assert!(models["models"][0]["id"].is_string());
    assert_eq!(
        client.ok("sessions.subscribe", json!({})).await,
        json!({"subscribed": true})
    );
}

#[tokio::test]
async fn sessions_are_created_by_chat_send_listed_paged_reset_and_deleted() {
    let gateway = Simulator::start(SimConfig::default().with_agents(["main", "coder"]))
        .await
        .unwrap();
    let mut client = connected(&gateway).await;
    for (key, run) in [
        ("agent:main:s1", "r1"),
        ("agent:coder:s2", "r2"),
        ("agent:main:s3", "r3"),
    ] {
        client.ok("chat.send", send_params(key, "hello", run)).await;
        client.run_events(run, is_chat_terminal).await;
    }
    let unknown_agent = client
        .call("chat.send", send_params("agent:nobody:s", "hello", "r4"))
        .await;
    assert_eq!(unknown_agent["ok"], false);

    let page = client.ok("sessions.list", json!({"limit": 2})).await;
    assert_eq!(page["count"], 2);
    assert_eq!(page["totalCount"], 3);
    assert_eq!(page["hasMore"], true);
    let rest = client
        .ok("sessions.list", json!({"limit": 2, "offset": 2}))
        .await;
    assert_eq!(rest["count"], 1);
    assert_eq!(rest["hasMore"], false);
    let row = &page["sessions"][0];
    for field in [
        "key",
        "sessionId",
        "agentId",
        "status",
        "hasActiveRun",
        "lastRunError",
        "totalTokens",
        "updatedAt",
    ] {
        assert!(row.get(field).is_some(), "session rows carry {field}");
    }
    let coder = client
        .ok("sessions.list", json!({"limit": 10, "agentId": "coder"}))
        .await;
    assert_eq!(coder["sessions"][0]["key"], "agent:coder:s2");

    let history = client
        .ok(
            "chat.history",
            json!({"sessionKey": "agent:main:s1", "limit": 10}),
        )
        .await;
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["role"], "assistant");

    let reset = client
        .ok("sessions.reset", json!({"key": "agent:main:s1"}))
        .await;
    assert_eq!(reset["ok"], true);
    assert_ne!(reset["entry"]["sessionId"], history["sessionId"]);
    let history = client
        .ok("chat.history", json!({"sessionKey": "agent:main:s1"}))
        .await;
    assert_eq!(history["messages"], json!([]));

    let deleted = client
        .ok("sessions.delete", json!({"key": "agent:main:s3"}))
        .await;
    assert_eq!(
        deleted,
        json!({"ok": true, "key": "agent:main:s3", "deleted": true})
    );
    let deleted = client
        .ok("sessions.delete", json!({"key": "agent:main:s3"}))
        .await;
    assert_eq!(deleted["deleted"], false);
}

#[tokio::test]
async fn sessions_create_starts_a_run_when_given_a_message() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    let created = client
        .ok(
            "sessions.create",
            json!({"agentId": "main", "label": "task-1"}),
        )
        .await;
    assert_eq!(created["runStarted"], false);
    assert!(created["key"].as_str().unwrap().starts_with("agent:main:"));
    let with_run = client
        .ok(
            "sessions.create",
            json!({"key": "agent:main:made", "message": "hello"}),
        )
        .await;
    assert_eq!(with_run["runStarted"], true);
    let run_id = with_run["runId"].as_str().unwrap().to_owned();
    let events = client.run_events(&run_id, is_chat_terminal).await;
    assert_eq!(events.last().unwrap()["payload"]["state"], "final");
    let idempotent = client
        .call(
            "sessions.create",
            json!({"agentId": "main", "idempotencyKey": "x"}),
        )
        .await;
    assert_eq!(
        idempotent["ok"], false,
        "device-less idempotent creation is refused, as observed"
    );
}

#[tokio::test]
async fn subscribers_receive_session_events() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    client.ok("sessions.subscribe", json!({})).await;
    client
        .ok(
            "chat.send",
            send_params("agent:main:sub", "hello", "run-sub"),
        )
        .await;
    client.run_events("run-sub", is_chat_terminal).await;
    let changed = client.event(|e| e["event"] == "sessions.changed").await;
    assert_eq!(changed["payload"]["sessionKey"], "agent:main:sub");
    let message = client.event(|e| e["event"] == "session.message").await;
    assert_eq!(message["payload"]["message"]["role"], "user");
}
