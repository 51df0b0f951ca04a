//! The task routes, paging, aliases, input validation and tenant isolation, as a client sees
//! them.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use godel_http::{HttpOptions, Role};
use serde_json::json;
use support::App;

#[tokio::test]
async fn a_developer_submits_gets_and_lists_tasks() {
    let app = App::new();
    let dev = app.key(Role::Developer).await;
    let created = app
        .post(
            "/api/v1/tasks",
            &dev,
            json!({"payload": {"prompt": "fix it"}, "priority": "high"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let task: godel_engine::Task = serde_json::from_value(created.body.clone()).unwrap();
    assert_eq!(task.priority, godel_types::Priority::High);
    let got = app.get(&format!("/api/v1/tasks/{}", task.id), &dev).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        serde_json::from_value::<godel_engine::Task>(got.body)
            .unwrap()
            .id,
        task.id
    );
    let listed = app
        .get("/api/v1/tasks?status=pending&priority=high", &dev)
        .await;
    let page: godel_engine::Page<godel_engine::Task> = serde_json::from_value(listed.body).unwrap();
    assert_eq!((page.items.len(), page.total), (1, 1));
    let events = app
        .get(&format!("/api/v1/tasks/{}/events", task.id), &dev)
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    assert!(events.body.is_array());
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_task_with_200() {
    let app = App::new();
    let dev = app.key(Role::Developer).await;
    let send = || {
        Request::post("/api/v1/tasks")
            .header("x-api-key", &dev)
            .header("idempotency-key", "abc-1")
            .body(Body::from(
                json!({"payload": {"prompt": "once"}}).to_string(),
            ))
            .unwrap()
    };
    let first = app.send(send()).await;
    let second = app.send(send()).await;
    assert_eq!(
        (first.status, second.status),
        (StatusCode::CREATED, StatusCode::OK)
    );
    assert_eq!(first.body["id"], second.body["id"]);
}

#[tokio::test]
async fn lists_page_with_opaque_cursors() {
    let app = App::new();
    let dev = app.key(Role::Developer).await;
    for n in 0..5 {
        app.submit(&dev, &format!("task {n}")).await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/tasks?limit=2".to_owned();
    loop {
        let page = app.get(&path, &dev).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert_eq!(page.body["total"], 5);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/tasks?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.dedup();
    assert_eq!(seen.len(), 5, "no task twice");
    let newest = app
        .get("/api/v1/tasks?sort=-created_at&limit=1", &dev)
        .await;
    assert_eq!(
        newest.body["items"][0]["id"].as_str(),
        seen.last().map(String::as_str)
    );
    let filtered = app
        .get(
            "/api/v1/tasks?filter=%7B%22status%22%3A%5B%22completed%22%5D%7D",
            &dev,
        )
        .await;
    assert_eq!(filtered.body["total"], 0, "{}", filtered.text);
}

#[tokio::test]
async fn cancel_and_retry_follow_the_task_state() {
    let app = App::new();
    let dev = app.key(Role::Developer).await;
    let op = app.key(Role::Operator).await;
    let id = app.submit(&dev, "stop me").await;
    let cancelled = app
        .post(&format!("/api/v1/tasks/{id}/cancel"), &op, json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(cancelled.body["status"], "cancelled");
    app.post(&format!("/api/v1/tasks/{id}/cancel"), &op, json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    app.post(&format!("/api/v1/tasks/{id}/retry"), &op, json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    let unknown = uuid::Uuid::now_v7();
    app.get(&format!("/api/v1/tasks/{unknown}"), &dev)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.post(&format!("/api/v1/tasks/{unknown}/cancel"), &op, json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_api_alias_answers_with_deprecation_headers() {
    let app = App::new();
    let viewer = app.key(Role::Viewer).await;
    let alias = app.get("/api/tasks", &viewer).await;
    assert_eq!(alias.status, StatusCode::OK);
    assert_eq!(alias.headers["deprecation"], "true");
    assert_eq!(
        alias.headers["sunset"],
        HttpOptions::default().sunset.as_str()
    );
    let current = app.get("/api/v1/tasks", &viewer).await;
    assert!(current.headers.get("deprecation").is_none());
    let pi = app.get("/pi/instances", &viewer).await;
    assert_eq!(pi.status, StatusCode::OK, "{}", pi.text);
    assert_eq!(pi.headers["deprecation"], "true");
}

#[tokio::test]
async fn a_tenant_never_sees_or_touches_another_tenants_tasks() {
    let app = App::new();
    let a = app.key_for("tenant-a", Role::Admin).await;
    let b = app.key_for("tenant-b", Role::Admin).await;
    let id = app.submit(&a, "private").await;
    for path in [
        format!("/api/v1/tasks/{id}"),
        format!("/api/tasks/{id}"),
        format!("/api/v1/tasks/{id}/events"),
    ] {
        app.get(&path, &b)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    for verb in ["cancel", "retry"] {
        app.post(&format!("/api/v1/tasks/{id}/{verb}"), &b, json!({}))
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(app.get("/api/v1/tasks", &b).await.body["total"], 0);
    assert_eq!(app.get("/api/v1/dead-letter", &b).await.body["total"], 0);
    let depth = app.get("/api/v1/queue/depth", &b).await;
    assert_eq!(depth.body["by_priority"]["medium"], 0, "{}", depth.text);
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}"), &a).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_input_is_400_with_the_error_body_never_500() {
    let app = App::new();
    let dev = app.key(Role::Developer).await;
    let raw = |body: &str| {
        Request::post("/api/v1/tasks")
            .header("x-api-key", &dev)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    for body in [
        "{not json",
        r#"{"payload": {"prompt": "x"}, "priority": "urgent"}"#,
        r#"{"payload": {"prompt": "x"}, "max_attempts": "three"}"#,
        r#"{"payload": {"prompt": "x"}, "colour": "blue"}"#,
        r#"{"payload": {"prompt": ""}}"#,
        "",
    ] {
        app.send(raw(body))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    for path in [
        "/api/v1/tasks/not-a-uuid",
        "/api/v1/tasks?cursor=garbage",
        "/api/v1/tasks?limit=0",
        "/api/v1/tasks?limit=abc",
        "/api/v1/tasks?limit=101",
        "/api/v1/tasks?status=sleeping",
        "/api/v1/tasks?sort=colour",
        "/api/v1/tasks?bogus=1",
        "/api/v1/tasks?filter=notjson",
        "/api/v1/sessions?cursor=garbage",
        "/api/v1/agents?status=idle",
    ] {
        app.get(path, &dev)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn an_oversize_body_is_413_invalid_request() {
    let app = App::with_options(HttpOptions {
        body_limit: 1024,
        ..HttpOptions::default()
    });
    let dev = app.key(Role::Developer).await;
    let prompt = "x".repeat(4096);
    app.post(
        "/api/v1/tasks",
        &dev,
        json!({"payload": {"prompt": prompt}}),
    )
    .await
    .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_the_error_body() {
    let app = App::new();
    let viewer = app.key(Role::Viewer).await;
    app.get("/api/v1/nothing-here", &viewer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.call(Method::PUT, "/api/v1/tasks", &viewer, None)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
}

#[tokio::test]
async fn request_ids_and_traceparent_are_honoured() {
    let app = App::new();
    let viewer = app.key(Role::Viewer).await;
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = app
        .send(
            Request::get("/api/v1/tasks")
                .header("x-api-key", &viewer)
                .header("x-request-id", "my-id-1")
                .header("traceparent", tp)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.headers["x-request-id"], "my-id-1");
    assert_eq!(answer.headers["traceparent"], tp);
    let bad = app
        .send(
            Request::get("/api/v1/tasks")
                .header("x-api-key", &viewer)
                .header("x-request-id", "has spaces in it")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let id = bad.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "a generated UUID: {id}");
}
