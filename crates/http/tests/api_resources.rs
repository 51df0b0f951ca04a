//! The other resources (instances, agents, sessions, queue, dead letters, teams, audit) and the
//! OpenAPI document covering every route.

mod support;

use axum::http::{Method, StatusCode};
use godel_http::Role;
use serde_json::json;
use support::App;

#[tokio::test]
async fn instances_agents_queue_teams_and_audit_answer_their_contract() {
    let app = App::new();
    let admin = app.key(Role::Admin).await;
    let viewer = app.key(Role::Viewer).await;
    let spec = json!({"endpoint": "ws://gw.test:1", "max_sessions": 4});
    app.post("/api/v1/instances", &viewer, spec.clone())
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let instance = app.post("/api/v1/instances", &admin, spec).await;
    assert_eq!(instance.status, StatusCode::CREATED, "{}", instance.text);
    let instance: godel_federation::Instance = serde_json::from_value(instance.body).unwrap();
    let health = app
        .get(
            &format!("/api/v1/instances/{}/health", instance.id),
            &viewer,
        )
        .await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    let agent = app
        .post(
            "/api/v1/agents",
            &admin,
            json!({"name": "coder-1", "instance_id": instance.id, "max_capacity": 2}),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{}", agent.text);
    let status = app.get("/api/v1/agents/coder-1/status", &viewer).await;
    let status: godel_engine::AgentStatusView = serde_json::from_value(status.body).unwrap();
    assert_eq!(status.active_tasks, 0);
    app.get("/api/v1/agents/nobody/status", &viewer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let agents = app.get("/api/v1/agents", &viewer).await;
    assert!(
        agents.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "coder-1"),
        "{}",
        agents.text
    );
    assert_eq!(app.get("/api/v1/instances", &viewer).await.body["total"], 1);

    let dev = app.key(Role::Developer).await;
    let team = uuid::Uuid::now_v7();
    app.post(
        "/api/v1/tasks",
        &dev,
        json!({"payload": {"prompt": "a"}, "team_id": team}),
    )
    .await;
    let depth = app.get("/api/v1/queue/depth", &viewer).await;
    assert_eq!(depth.status, StatusCode::OK, "{}", depth.text);
    assert!(
        depth.body.get("by_tenant").is_none(),
        "only admins see every tenant"
    );
    assert!(app.get("/api/v1/queue/depth", &admin).await.body["by_tenant"].is_object());
    let teams = app.get("/api/v1/teams", &viewer).await;
    assert_eq!(teams.body["total"], 1, "{}", teams.text);
    let progress: godel_engine::TeamProgress = serde_json::from_value(
        app.get(&format!("/api/v1/teams/{team}"), &viewer)
            .await
            .body,
    )
    .unwrap();
    assert_eq!(progress.total, 1);
    app.get(&format!("/api/v1/teams/{}", uuid::Uuid::now_v7()), &viewer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    let dlq = app.get("/api/v1/dead-letter", &viewer).await;
    assert_eq!(
        (dlq.status, dlq.body["total"].as_u64()),
        (StatusCode::OK, Some(0))
    );
    let export = app.get("/api/v1/dead-letter?format=ndjson", &viewer).await;
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    let op = app.key(Role::Operator).await;
    let replayed = app
        .post(
            "/api/v1/dead-letter/replay",
            &op,
            json!({"priority": "high"}),
        )
        .await;
    assert_eq!(replayed.body["count"], 0, "{}", replayed.text);
    app.post("/api/v1/dead-letter/replay", &viewer, json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    let sessions = app.get("/api/v1/sessions", &viewer).await;
    assert_eq!(sessions.body["total"], 0, "{}", sessions.text);
    let missing = uuid::Uuid::now_v7();
    app.get(&format!("/api/v1/sessions/{missing}"), &viewer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.post(&format!("/api/v1/sessions/{missing}/pause"), &op, json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    let removed = app
        .call(
            Method::DELETE,
            &format!("/api/v1/instances/{}", instance.id),
            &admin,
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    let audit = app.get("/api/v1/audit", &admin).await;
    assert_eq!(audit.status, StatusCode::OK);
    app.get("/api/v1/audit", &viewer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
}

/// Every route of API.md, relative to `/api/v1`.
const API_MD_ROUTES: &[(&str, &str)] = &[
    ("post", "/tasks"),
    ("get", "/tasks"),
    ("get", "/tasks/{id}"),
    ("post", "/tasks/{id}/cancel"),
    ("post", "/tasks/{id}/retry"),
    ("get", "/tasks/{id}/events"),
    ("get", "/queue/depth"),
    ("get", "/dead-letter"),
    ("post", "/dead-letter/replay"),
    ("get", "/agents"),
    ("post", "/agents"),
    ("get", "/agents/{id}/status"),
    ("get", "/sessions"),
    ("post", "/sessions"),
    ("get", "/sessions/{id}"),
    ("post", "/sessions/{id}/pause"),
    ("post", "/sessions/{id}/resume"),
    ("post", "/sessions/{id}/checkpoint"),
    ("post", "/sessions/{id}/terminate"),
    ("post", "/sessions/{id}/migrate"),
    ("get", "/instances"),
    ("post", "/instances"),
    ("delete", "/instances/{id}"),
    ("get", "/instances/{id}/health"),
    ("get", "/teams"),
    ("get", "/teams/{id}"),
    ("post", "/api-keys"),
    ("get", "/api-keys"),
    ("delete", "/api-keys/{id}"),
    ("get", "/audit"),
    ("get", "/health"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
];

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = App::new();
    let doc = app.get("/api/v1/openapi.json", "").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = &doc.body["paths"];
    for (method, path) in API_MD_ROUTES {
        let op = &paths[format!("/api/v1{path}")][method];
        assert!(op.is_object(), "{method} /api/v1{path} is documented");
        assert!(
            op["responses"]["400"].is_object(),
            "{method} {path} documents errors"
        );
    }
    let (_, generated) = godel_http::routes::api().split_for_parts();
    for path in generated.paths.paths.keys() {
        assert!(
            paths[format!("/api/v1{path}")].is_object(),
            "{path} is in the served document"
        );
        assert!(
            API_MD_ROUTES.iter().any(|(_, p)| p == path),
            "{path} is served but not in API.md's list"
        );
    }
    assert!(doc.body["components"]["securitySchemes"]["api_key"].is_object());
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
    assert_eq!(app.get("/api/openapi.json", "").await.body, doc.body);
}
