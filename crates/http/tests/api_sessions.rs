//! The session routes as a client sees them: open a session on an agent, list and read it, and
//! drive its lifecycle (pause, resume, checkpoint, terminate, migrate), with the conflicts,
//! unknown ids, roles and tenant isolation of API.md.

mod support;

use axum::http::{Method, StatusCode};
use godel_http::Role;
use godel_lifecycle::{Checkpoint, SessionRecord};
use godel_types::SessionState;
use serde_json::{Value, json};
use support::{Answer, App};

/// The agent sessions are opened on.
const AGENT: &str = "coder-1";
/// The agent sessions migrate to.
const OTHER_AGENT: &str = "coder-2";

/// An app with one instance carrying [`AGENT`] and [`OTHER_AGENT`], and an operator key.
async fn fleet() -> (App, String) {
    let app = App::new();
    let admin = app.key(Role::Admin).await;
    let instance = app
        .post(
            "/api/v1/instances",
            &admin,
            json!({"endpoint": "ws://sessions.test:1", "max_sessions": 8}),
        )
        .await;
    assert_eq!(instance.status, StatusCode::CREATED, "{}", instance.text);
    for name in [AGENT, OTHER_AGENT] {
        let agent = app
            .post(
                "/api/v1/agents",
                &admin,
                json!({"name": name, "instance_id": instance.body["id"], "max_capacity": 2}),
            )
            .await;
        assert_eq!(agent.status, StatusCode::CREATED, "{}", agent.text);
    }
    let operator = app.key(Role::Operator).await;
    (app, operator)
}

/// The body of a session request on [`AGENT`].
fn create_body() -> Value {
    json!({
        "agent_id": AGENT,
        "openclaw_config": {
            "profile": "default",
            "workspace": "/work/repo",
            "env_vars": {"RUST_LOG": "debug"}
        }
    })
}

/// Opens a session on [`AGENT`] and returns it.
async fn open(app: &App, key: &str) -> SessionRecord {
    let created = app.post("/api/v1/sessions", key, create_body()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    serde_json::from_value(created.body).unwrap()
}

/// `POST /api/v1/sessions/{id}/{verb}` with `body`.
async fn command(
    app: &App,
    key: &str,
    id: impl std::fmt::Display,
    verb: &str,
    body: Value,
) -> Answer {
    app.post(&format!("/api/v1/sessions/{id}/{verb}"), key, body)
        .await
}

/// The session of a 200 answer.
fn session_of(answer: Answer) -> SessionRecord {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    serde_json::from_value(answer.body).unwrap()
}

#[tokio::test]
async fn an_operator_opens_a_ready_session_on_the_agent_it_names() {
    let (app, op) = fleet().await;
    let created = app.post("/api/v1/sessions", &op, create_body()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["state"], "ready", "{}", created.text);
    assert_eq!(created.body["agent"], AGENT);
    assert_eq!(created.body["config"]["workspace"], "/work/repo");
    assert_eq!(created.body["config"]["env_vars"]["RUST_LOG"], "debug");
    let session: SessionRecord = serde_json::from_value(created.body).unwrap();
    assert_eq!(session.tenant, app.tenant);
    assert_eq!(session.active_task, None);
}

#[tokio::test]
async fn opening_a_session_on_an_unknown_agent_is_404() {
    let (app, op) = fleet().await;
    app.post(
        "/api/v1/sessions",
        &op,
        json!({"agent_id": "nobody", "openclaw_config": {"profile": null, "workspace": null, "env_vars": {}}}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_viewer_cannot_open_a_session() {
    let (app, _) = fleet().await;
    let viewer = app.key(Role::Viewer).await;
    app.post("/api/v1/sessions", &viewer, create_body())
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn the_session_list_pages_the_tenants_sessions() {
    let (app, op) = fleet().await;
    let first = open(&app, &op).await;
    let second = open(&app, &op).await;
    let viewer = app.key(Role::Viewer).await;
    let page = app.get("/api/v1/sessions?limit=1", &viewer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.body["total"], 2, "{}", page.text);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &format!("/api/v1/sessions?limit=1&cursor={cursor}"),
            &viewer,
        )
        .await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.text);
    let mut seen = vec![
        page.body["items"][0]["id"].clone(),
        rest.body["items"][0]["id"].clone(),
    ];
    seen.sort_by_key(ToString::to_string);
    let mut expected = vec![json!(first.id), json!(second.id)];
    expected.sort_by_key(ToString::to_string);
    assert_eq!(seen, expected);
    assert!(rest.body["next_cursor"].is_null(), "{}", rest.text);
}

#[tokio::test]
async fn a_session_is_read_with_its_state_history() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    let viewer = app.key(Role::Viewer).await;
    let got = app
        .get(&format!("/api/v1/sessions/{}", opened.id), &viewer)
        .await;
    let got = session_of(got);
    assert_eq!(got.id, opened.id);
    let path: Vec<_> = got.history.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        path,
        [
            (SessionState::Created, SessionState::Initializing),
            (SessionState::Initializing, SessionState::Ready),
        ]
    );
}

#[tokio::test]
async fn pausing_a_ready_session_makes_it_paused() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    let paused = session_of(command(&app, &op, opened.id, "pause", json!({})).await);
    assert_eq!(paused.state, SessionState::Paused);
    assert_eq!(paused.id, opened.id);
}

#[tokio::test]
async fn resuming_a_paused_session_makes_it_ready_again() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    session_of(command(&app, &op, opened.id, "pause", json!({})).await);
    let resumed = session_of(command(&app, &op, opened.id, "resume", json!({})).await);
    assert_eq!(resumed.state, SessionState::Ready);
    assert_eq!(
        resumed.history.last().map(|c| (c.from, c.to)),
        Some((SessionState::Paused, SessionState::Ready))
    );
}

#[tokio::test]
async fn resuming_a_session_that_is_not_paused_is_409_conflict() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    command(&app, &op, opened.id, "resume", json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn a_checkpoint_is_201_with_the_checkpoint_and_marks_the_session() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    let saved = command(
        &app,
        &op,
        opened.id,
        "checkpoint",
        json!({"name": "before-refactor"}),
    )
    .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
    let checkpoint: Checkpoint = serde_json::from_value(saved.body).unwrap();
    assert_eq!(checkpoint.session, opened.id);
    assert_eq!(checkpoint.name.as_deref(), Some("before-refactor"));
    assert_eq!(checkpoint.state, SessionState::Ready);
    let after = session_of(
        app.get(&format!("/api/v1/sessions/{}", opened.id), &op)
            .await,
    );
    assert_eq!(after.last_checkpoint, Some(checkpoint.id));
    assert_eq!(
        after.state,
        SessionState::Ready,
        "a checkpoint keeps the state"
    );
}

#[tokio::test]
async fn a_checkpoint_needs_no_body() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    let saved = app
        .call(
            Method::POST,
            &format!("/api/v1/sessions/{}/checkpoint", opened.id),
            &op,
            None,
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
    assert!(saved.body["name"].is_null(), "{}", saved.text);
    assert_eq!(saved.body["session"], json!(opened.id));
}

#[tokio::test]
async fn terminating_a_session_cancels_it() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    let ended = session_of(command(&app, &op, opened.id, "terminate", json!({})).await);
    assert_eq!(ended.state, SessionState::Cancelled);
    assert_eq!(ended.deadline, None);
}

#[tokio::test]
async fn terminating_an_ended_session_is_409_conflict() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    session_of(command(&app, &op, opened.id, "terminate", json!({})).await);
    command(&app, &op, opened.id, "terminate", json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn pausing_an_ended_session_is_409_conflict() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    session_of(command(&app, &op, opened.id, "terminate", json!({})).await);
    command(&app, &op, opened.id, "pause", json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn migrating_moves_the_session_to_the_named_agent() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    let moved = session_of(
        command(
            &app,
            &op,
            opened.id,
            "migrate",
            json!({"agent_id": OTHER_AGENT}),
        )
        .await,
    );
    assert_eq!(moved.agent.to_string(), OTHER_AGENT);
    assert_eq!(moved.state, SessionState::Ready);
    assert_eq!(
        moved.instance, opened.instance,
        "both agents live on the one instance"
    );
    let states: Vec<_> = moved.history.iter().map(|c| c.to).collect();
    assert!(
        states.ends_with(&[SessionState::Migrating, SessionState::Ready]),
        "{states:?}"
    );
}

#[tokio::test]
async fn migrating_to_an_unknown_agent_is_404() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    command(
        &app,
        &op,
        opened.id,
        "migrate",
        json!({"agent_id": "nobody"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn migrating_without_an_agent_is_400() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    command(&app, &op, opened.id, "migrate", json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn every_session_route_answers_404_for_an_unknown_id() {
    let (app, op) = fleet().await;
    let unknown = uuid::Uuid::now_v7();
    app.get(&format!("/api/v1/sessions/{unknown}"), &op)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    for (verb, body) in [
        ("pause", json!({})),
        ("resume", json!({})),
        ("checkpoint", json!({})),
        ("terminate", json!({})),
        ("migrate", json!({"agent_id": OTHER_AGENT})),
    ] {
        let answer = command(&app, &op, unknown, verb, body).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{verb}: {}",
            answer.text
        );
        answer.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn a_viewer_gets_403_on_pause() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    let viewer = app.key(Role::Viewer).await;
    command(&app, &viewer, opened.id, "pause", json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let still = session_of(
        app.get(&format!("/api/v1/sessions/{}", opened.id), &viewer)
            .await,
    );
    assert_eq!(still.state, SessionState::Ready);
}

#[tokio::test]
async fn another_tenant_gets_404_for_every_session_route() {
    let (app, op) = fleet().await;
    let opened = open(&app, &op).await;
    let other = app.key_for("globex", Role::Admin).await;
    app.get(&format!("/api/v1/sessions/{}", opened.id), &other)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    for (verb, body) in [
        ("pause", json!({})),
        ("resume", json!({})),
        ("checkpoint", json!({})),
        ("terminate", json!({})),
        ("migrate", json!({"agent_id": OTHER_AGENT})),
    ] {
        let answer = command(&app, &other, opened.id, verb, body).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{verb}: {}",
            answer.text
        );
        answer.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    let listed = app.get("/api/v1/sessions", &other).await;
    assert_eq!(listed.body["total"], 0, "{}", listed.text);
    let untouched = session_of(
        app.get(&format!("/api/v1/sessions/{}", opened.id), &op)
            .await,
    );
    assert_eq!(untouched.state, SessionState::Ready);
    assert_eq!(untouched.agent.to_string(), AGENT);
}
