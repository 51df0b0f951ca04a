//! `/metrics`, the request metrics middleware and the gauge sampler, read back through the
//! Prometheus text exposition. The recorder is process-global: each test uses its own tenants
//! and routes so they do not read each other's series.

mod ops_support;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Request, StatusCode};
use axum::middleware::from_fn;
use axum::routing::get;
use godel_engine::CreateSession;
use godel_http::{AppState, ops};
use ops_support::{World, options, state, tenant_id};
use serde_json::Value;
use tower::ServiceExt;

/// One sample of the exposition: the metric's name, its labels and its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the samples of a Prometheus text exposition (label values without escapes).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, value) = pair.split_once("=\"")?;
                    Some((key.to_owned(), value.trim_end_matches('"').to_owned()))
                })
                .collect();
            Some(Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// The value of `name` with (at least) `labels`, if rendered.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// The recorder's current exposition.
fn render() -> String {
    ops::install_prometheus().unwrap()()
}

/// Polls the exposition until `condition` holds (or fails the test after a generous deadline).
async fn until(what: &str, condition: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = render();
        if condition(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}; exposition:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An app with the health and metrics routes, one parameterised route, all tracked.
fn app(world: &World) -> Router {
    let state: AppState = state(world, options(Duration::from_secs(30), 64), Vec::new())
        .metrics(ops::install_prometheus().unwrap())
        .build()
        .unwrap();
    Router::from(ops::routes())
        .merge(ops::metrics_routes())
        .route("/things/{id}", get(|| async { "thing" }))
        .nest(
            "/api/v1",
            Router::new().route("/nested/{id}", get(|| async { "nested" })),
        )
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }),
        )
        .layer(from_fn(ops::track))
        .with_state(state)
}

async fn call(app: &Router, path: &str) -> (StatusCode, Option<String>, String) {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

#[test]
fn installing_twice_returns_the_same_recorder() {
    let first = ops::install_prometheus().unwrap();
    let second = ops::install_prometheus().unwrap();
    metrics::counter!("godel_test_install_twice_total").increment(3);
    assert_eq!(
        value(&first(), "godel_test_install_twice_total", &[]),
        Some(3.0)
    );
    assert_eq!(
        value(&second(), "godel_test_install_twice_total", &[]),
        Some(3.0)
    );
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_rendered_as_prometheus_text() {
    let world = World::new();
    let app = app(&world);
    assert_eq!(call(&app, "/health/live").await.0, StatusCode::OK);
    assert_eq!(call(&app, "/things/123").await.0, StatusCode::OK);
    assert_eq!(call(&app, "/things/456").await.0, StatusCode::OK);
    assert_eq!(call(&app, "/api/v1/nested/7").await.0, StatusCode::OK);
    assert_eq!(
        call(&app, "/no/such/route-xyz").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "/broken").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    let (status, content_type, text) = call(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
    let requests = |route: &str, status: &str| {
        value(
            &text,
            "dash_api_requests_total",
            &[("method", "GET"), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("/health/live", "200"), Some(1.0));
    assert_eq!(requests("/things/{id}", "200"), Some(2.0));
    assert_eq!(requests("/api/v1/nested/{id}", "200"), Some(1.0));
    assert_eq!(requests("unmatched", "404").map(|v| v >= 1.0), Some(true));
    assert_eq!(requests("/broken", "500"), Some(1.0));
    assert!(!text.contains("route-xyz"), "a raw path became a label");
    assert!(!text.contains("/things/123"), "a raw path became a label");
    assert_eq!(
        value(
            &text,
            "dash_api_duration_seconds_count",
            &[("route", "/things/{id}")]
        ),
        Some(2.0)
    );
    assert!(
        value(
            &text,
            "dash_api_duration_seconds_bucket",
            &[("route", "/health/live"), ("le", "+Inf")]
        )
        .is_some()
    );
    assert!(
        value(
            &text,
            "dash_errors_total",
            &[("type", "http_5xx"), ("component", "http")]
        )
        .is_some_and(|v| v >= 1.0)
    );
    assert!(text.contains("# HELP dash_api_requests_total"));
    assert!(text.contains("# TYPE dash_api_duration_seconds histogram"));
}

#[tokio::test]
async fn engine_metrics_appear_with_the_prd_names() {
    let world = World::new();
    let app = app(&world);
    world.submit("metrics-engine", "count me").await;
    let (_, _, text) = call(&app, "/metrics").await;
    assert_eq!(
        value(
            &text,
            "dash_tasks_created_total",
            &[("priority", "medium"), ("tenant", "metrics-engine")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn without_a_recorder_metrics_answers_503() {
    let world = World::new();
    let state = state(&world, options(Duration::from_secs(30), 64), Vec::new())
        .build()
        .unwrap();
    let app = ops::metrics_routes().with_state(state);
    let (status, _, body) = call(&app, "/metrics").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable");
}

#[tokio::test]
async fn the_sampler_sets_queue_agent_and_session_gauges_and_zeroes_what_is_gone() {
    let world = World::new();
    ops::install_prometheus().unwrap();
    world.add_instance("sampled", true).await;
    let tenant = "sampler-tenant";
    let first = world.submit(tenant, "one").await;
    let second = world.submit(tenant, "two").await;
    let session = world
        .engine
        .sessions()
        .create(&tenant_id(tenant), CreateSession::default())
        .await
        .unwrap();
    let agent = session.agent.to_string();

    let sampler = ops::spawn_gauge_sampler(world.engine.clone(), Duration::from_millis(20));
    let depth = |text: &str| {
        value(
            text,
            "dash_queue_depth",
            &[("priority", "medium"), ("tenant", tenant)],
        )
    };
    let sessions = |text: &str| {
        value(
            text,
            "dash_sessions_active",
            &[("status", "ready"), ("tenant", tenant)],
        )
    };
    let text = until("the gauges are sampled", |text| {
        depth(text) == Some(2.0) && sessions(text) == Some(1.0)
    })
    .await;
    assert_eq!(
        value(
            &text,
            "dash_queue_depth",
            &[("priority", "critical"), ("tenant", tenant)]
        ),
        Some(0.0)
    );
    assert!(
        value(
            &text,
            "dash_agents_connected",
            &[("status", "idle"), ("tenant", ops::FLEET)]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "dash_agent_load_percent", &[("agent_id", &agent)]),
        Some(0.0)
    );

    // One task leaves the queue, then the other and the session: emptied series drop to 0
    // rather than going stale.
    world
        .engine
        .tasks()
        .cancel(&tenant_id(tenant), first.id, "test")
        .await
        .unwrap();
    until("the depth follows a cancel", |text| {
        depth(text) == Some(1.0)
    })
    .await;
    world
        .engine
        .tasks()
        .cancel(&tenant_id(tenant), second.id, "test")
        .await
        .unwrap();
    world
        .engine
        .sessions()
        .terminate(&tenant_id(tenant), session.id)
        .await
        .unwrap();
    until("emptied series read 0", |text| {
        depth(text) == Some(0.0) && sessions(text) == Some(0.0)
    })
    .await;

    sampler.abort();
    assert!(sampler.await.unwrap_err().is_cancelled());
}
