//! Routes the other suites leave uncovered: a successful retry and a replay by ids of a real
//! dead letter, `?token=` accepted on `/events` only, `/metrics` public from loopback only, and
//! registering an agent twice.

mod support;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use godel_engine::Task;
use godel_http::Role;
use godel_queue::{Eligibility, FailOutcome, Failure, TaskStatus};
use godel_types::AgentId;
use serde_json::json;
use support::{Answer, App};

/// Submits a single-attempt task and fails its only attempt, leaving it dead-lettered.
async fn dead_letter(app: &App, key: &str) -> String {
    let created = app
        .post(
            "/api/v1/tasks",
            key,
            json!({"payload": {"prompt": "doomed"}, "max_attempts": 1}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let queue = &app.state.engine().stores().queue;
    let leases = queue
        .claim(&AgentId::parse("worker").unwrap(), &Eligibility::any(), 1)
        .await
        .unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].task.id.to_string(), id);
    let outcome = queue
        .fail(&leases[0].token, Failure::permanent("scripted failure"))
        .await
        .unwrap();
    assert_eq!(outcome, FailOutcome::DeadLettered);
    id
}

/// The task of a 200 answer.
fn task_of(answer: Answer) -> Task {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    serde_json::from_value(answer.body).unwrap()
}

#[tokio::test]
async fn retrying_a_dead_lettered_task_makes_it_pending_again() {
    let app = App::new();
    let dev = app.key(Role::Developer).await;
    let op = app.key(Role::Operator).await;
    let id = dead_letter(&app, &dev).await;
    let before = task_of(app.get(&format!("/api/v1/tasks/{id}"), &dev).await);
    assert_eq!(before.status, TaskStatus::DeadLetter);
    let retried = task_of(
        app.post(&format!("/api/v1/tasks/{id}/retry"), &op, json!({}))
            .await,
    );
    assert_eq!(retried.id.to_string(), id);
    assert_eq!(retried.status, TaskStatus::Pending);
    let dlq = app.get("/api/v1/dead-letter", &dev).await;
    assert_eq!(dlq.body["total"], 0, "{}", dlq.text);
}

#[tokio::test]
async fn replaying_dead_letters_by_ids_requeues_them_and_names_them() {
    let app = App::new();
    let dev = app.key(Role::Developer).await;
    let op = app.key(Role::Operator).await;
    let id = dead_letter(&app, &dev).await;
    let listed = app.get("/api/v1/dead-letter", &dev).await;
    assert_eq!(listed.body["total"], 1, "{}", listed.text);
    let replayed = app
        .post("/api/v1/dead-letter/replay", &op, json!({"ids": [id]}))
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.text);
    assert_eq!(replayed.body, json!({"count": 1, "ids": [id]}));
    let task = task_of(app.get(&format!("/api/v1/tasks/{id}"), &dev).await);
    assert_eq!(task.status, TaskStatus::Pending);
    let again = app
        .post("/api/v1/dead-letter/replay", &op, json!({"ids": [id]}))
        .await;
    assert_eq!(
        again.body,
        json!({"count": 0, "ids": []}),
        "nothing left to replay: {}",
        again.text
    );
}

#[tokio::test]
async fn an_api_key_in_the_token_query_opens_the_events_socket() {
    let app = App::new();
    let viewer = app.key(Role::Viewer).await;
    let answer = app.get(&format!("/events?token={viewer}"), "").await;
    assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_ne!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
    assert!(
        answer.status.is_client_error(),
        "a oneshot request cannot upgrade, so the upgrade extractor refuses it: {}",
        answer.status
    );
}

#[tokio::test]
async fn an_unknown_key_in_the_token_query_is_refused_on_the_events_socket() {
    let app = App::new();
    let (unknown, ..) = godel_http::generate_key(true);
    app.get(&format!("/events?token={unknown}"), "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn an_api_key_in_the_token_query_is_refused_on_the_rest_api() {
    let app = App::new();
    let viewer = app.key(Role::Viewer).await;
    app.get(&format!("/api/v1/tasks?token={viewer}"), "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// `GET /metrics` from `peer`, with API key `key` if not empty.
async fn metrics_from(app: &App, peer: [u8; 4], key: &str) -> Answer {
    let mut request = Request::get("/metrics");
    if !key.is_empty() {
        request = request.header("x-api-key", key);
    }
    let mut request = request.body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
    app.send(request).await
}

#[tokio::test]
async fn metrics_are_public_to_a_loopback_peer() {
    let app = App::new();
    let answer = metrics_from(&app, [127, 0, 0, 1], "").await;
    assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_ne!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
}

#[tokio::test]
async fn metrics_need_a_key_from_a_remote_peer() {
    let app = App::new();
    metrics_from(&app, [10, 0, 0, 1], "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn metrics_answer_a_remote_peer_with_a_key() {
    let app = App::new();
    let viewer = app.key(Role::Viewer).await;
    let answer = metrics_from(&app, [10, 0, 0, 1], &viewer).await;
    assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_ne!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
}

#[tokio::test]
async fn registering_an_agent_name_twice_is_409_conflict() {
    let app = App::new();
    let admin = app.key(Role::Admin).await;
    let instance = app
        .post(
            "/api/v1/instances",
            &admin,
            json!({"endpoint": "ws://agents-twice.test:1", "max_sessions": 4}),
        )
        .await;
    assert_eq!(instance.status, StatusCode::CREATED, "{}", instance.text);
    let agent = json!({"name": "twin", "instance_id": instance.body["id"], "max_capacity": 1});
    let first = app.post("/api/v1/agents", &admin, agent.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    app.post("/api/v1/agents", &admin, agent)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
}
