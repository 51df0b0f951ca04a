//! What the schemathesis run (`cargo xtask fuzz-api`) found, kept as regressions: a JSON
//! `null` checkpoint body is an absent body, the body's `idempotency_key` follows the header's
//! rule, and the OpenAPI document states what the server accepts (unique operation ids, each
//! list's own parameters with their bounds, `additionalProperties: false` where unknown fields
//! are refused, both content types of the dead-letter export, the replay body's two forms).

mod support;

use axum::http::{Method, StatusCode};
use godel_http::Role;
use serde_json::{Value, json};
use support::App;

/// The served OpenAPI document.
async fn document(app: &App) -> Value {
    let answer = app.get("/api/v1/openapi.json", "").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

/// The parameters of `method path`, by name.
fn parameters<'a>(doc: &'a Value, path: &str, method: &str) -> Vec<&'a Value> {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .map(|p| p.iter().collect())
        .unwrap_or_default()
}

fn names(params: &[&Value]) -> Vec<String> {
    params
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_null_checkpoint_body_is_no_body() {
    let app = App::new();
    let op = app.key(Role::Operator).await;
    let path = "/api/v1/sessions/e3e70682-c209-1cac-a29f-6fbed82c07cd/checkpoint";
    // Before the fix `null` was refused as "expected struct CheckpointRequest" (400) before
    // the session was even looked up.
    app.call(Method::POST, path, &op, Some(Value::Null))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.post(path, &op, json!({"name": "x", "extra": 1}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn the_body_idempotency_key_follows_the_header_rule() {
    let app = App::new();
    let dev = app.key(Role::Developer).await;
    for bad in [json!(""), json!("a b"), json!("é"), json!("k".repeat(256))] {
        app.post(
            "/api/v1/tasks",
            &dev,
            json!({"payload": {"prompt": "p"}, "idempotency_key": bad}),
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let body = json!({"payload": {"prompt": "p"}, "idempotency_key": "k".repeat(255)});
    let first = app.post("/api/v1/tasks", &dev, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = app.post("/api/v1/tasks", &dev, body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["id"], first.body["id"]);
}

#[tokio::test]
async fn operation_ids_are_unique() {
    let app = App::new();
    let doc = document(&app).await;
    let mut ids = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op["operationId"].as_str() {
                ids.push(id.to_owned());
            }
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicated operation ids among {ids:?}");
    assert!(ids.contains(&"tasks_list".to_owned()));
    assert!(ids.contains(&"health_root".to_owned()));
}

#[tokio::test]
async fn each_list_documents_only_the_parameters_it_accepts_with_their_bounds() {
    let app = App::new();
    let doc = document(&app).await;
    let agents = parameters(&doc, "/api/v1/agents", "get");
    assert_eq!(names(&agents), ["limit", "cursor"]);
    let tasks = parameters(&doc, "/api/v1/tasks", "get");
    assert_eq!(
        names(&tasks),
        [
            "limit", "cursor", "sort", "status", "priority", "agent_id", "team_id", "filter"
        ]
    );
    let limit = &tasks[0]["schema"];
    assert_eq!(
        (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
        (Some(1), Some(100))
    );
    let filter = &tasks[7];
    assert!(
        filter["content"]["application/json"]["schema"].is_object(),
        "{filter}"
    );
    assert_eq!(
        parameters(&doc, "/api/v1/tasks/{id}/events", "get")[1]["schema"]["maximum"],
        1000
    );
    // What the document offers is accepted.
    let viewer = app.key(Role::Viewer).await;
    for status in tasks[3]["schema"]["items"]["enum"].as_array().unwrap() {
        let status = status.as_str().unwrap();
        let answer = app
            .get(
                &format!("/api/v1/tasks?status={status},pending&sort=-created_at&limit=1"),
                &viewer,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{status}: {}", answer.text);
    }
    let filter = "%7B%22status%22%3A%5B%22pending%22%5D%2C%22priority%22%3A%22high%22%7D";
    let answer = app
        .get(&format!("/api/v1/tasks?filter={filter}"), &viewer)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    // And what it does not offer is refused.
    app.get("/api/v1/agents?status=pending", &viewer)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn request_bodies_that_refuse_unknown_fields_say_so() {
    let app = App::new();
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    for name in [
        "SubmitTask",
        "CreateSession",
        "RegisterAgent",
        "CreateApiKey",
        "ReplayByIds",
    ] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
    // `openclaw_config` may be left out but not be null (the server refuses null).
    let config = &schemas["CreateSession"]["properties"]["openclaw_config"];
    assert!(!config.to_string().contains("null"), "{config}");
    let dev = app.key(Role::Developer).await;
    app.post(
        "/api/v1/tasks",
        &dev,
        json!({"payload": {"prompt": "p"}, "surprise": true}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn the_dead_letter_export_and_replay_are_documented_as_served() {
    let app = App::new();
    let doc = document(&app).await;
    let content = &doc["paths"]["/api/v1/dead-letter"]["get"]["responses"]["200"]["content"];
    assert!(content["application/json"].is_object(), "{content}");
    assert!(content["application/x-ndjson"].is_object(), "{content}");
    let viewer = app.key(Role::Viewer).await;
    let export = app.get("/api/v1/dead-letter?format=ndjson", &viewer).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.text);
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    let replay = &doc["components"]["schemas"]["ReplayRequest"];
    assert_eq!(
        replay["oneOf"].as_array().map(Vec::len),
        Some(2),
        "{replay}"
    );
    let op = app.key(Role::Operator).await;
    app.post(
        "/api/v1/dead-letter/replay",
        &op,
        json!({"ids": [], "priority": "high"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_body_must_be_an_object_not_the_array_of_its_fields() {
    let app = App::new();
    let op = app.key(Role::Operator).await;
    // serde reads a struct from the array of its fields: `[[]]` was `{"ids": []}` (200).
    app.post("/api/v1/dead-letter/replay", &op, json!([[]]))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let dev = app.key(Role::Developer).await;
    app.post("/api/v1/tasks", &dev, json!([{"prompt": "p"}]))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_nested_object_must_be_an_object_too() {
    let app = App::new();
    let op = app.key(Role::Operator).await;
    // `[null, null]` was read as `{"profile": null, "workspace": null}` and a session opened.
    app.post(
        "/api/v1/sessions",
        &op,
        json!({"openclaw_config": [null, null]}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    app.post("/api/v1/sessions", &op, json!({"openclaw_config": null}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn lists_in_submissions_may_be_left_out_but_are_never_null() {
    let app = App::new();
    let doc = document(&app).await;
    let submit = &doc["components"]["schemas"]["SubmitTask"]["properties"];
    for field in ["capabilities", "depends_on"] {
        assert_eq!(submit[field]["type"], "array", "{field}: {}", submit[field]);
    }
    let dev = app.key(Role::Developer).await;
    app.post(
        "/api/v1/tasks",
        &dev,
        json!({"payload": {"prompt": "p"}, "depends_on": null}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}
