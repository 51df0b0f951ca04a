//! `/health`, `/health/live` and `/health/ready`: what each combination of probe outcomes
//! (answering, failing, hanging past the timeout) and gateway fleet is reported as.

mod ops_support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use godel_http::HealthProbe;
use godel_http::ops;
use ops_support::{Answer, FakeProbe, World, options, state};
use serde_json::Value;
use tokio::sync::Barrier;
use tower::ServiceExt;

/// GETs `path` from the health routes over `world` with `probes`.
async fn get(world: &World, probes: Vec<Arc<dyn HealthProbe>>, path: &str) -> (StatusCode, Value) {
    let state = state(world, options(Duration::from_secs(30), 64), probes)
        .build()
        .unwrap();
    let app: Router = Router::from(ops::routes()).with_state(state);
    let response = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn both(database: Answer, redis: Answer) -> Vec<Arc<dyn HealthProbe>> {
    vec![
        FakeProbe::arc("database", true, database),
        FakeProbe::arc("redis", false, redis),
    ]
}

#[tokio::test]
async fn everything_answering_is_healthy_with_latencies_and_instance_counts() {
    let world = World::new();
    world.add_instance("gw1", true).await;
    let (status, body) = get(&world, both(Answer::Healthy, Answer::Healthy), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy", "{body}");
    assert_eq!(body["version"], "9.9.9-test");
    for dep in ["database", "redis"] {
        assert_eq!(body["checks"][dep]["status"], "healthy", "{body}");
        assert!(body["checks"][dep]["latency_ms"].as_f64().unwrap() >= 0.0);
        assert!(body["checks"][dep].get("message").is_none());
    }
    let openclaw = &body["checks"]["openclaw"];
    assert_eq!(openclaw["status"], "healthy");
    assert_eq!(openclaw["instances"]["total"], 1);
    assert_eq!(openclaw["instances"]["healthy"], 1);
    assert_eq!(openclaw["instances"]["unhealthy"], 0);
    let timestamp = body["timestamp"].as_str().unwrap();
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339).unwrap();

    let (status, body) = get(
        &world,
        both(Answer::Healthy, Answer::Healthy),
        "/health/ready",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"status": "ready"}));
}

#[tokio::test]
async fn no_gateway_instance_is_degraded_but_ready() {
    let world = World::new();
    let (status, body) = get(&world, both(Answer::Healthy, Answer::Healthy), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["openclaw"]["status"], "degraded");
    assert_eq!(body["checks"]["openclaw"]["instances"]["total"], 0);

    let (status, body) = get(
        &world,
        both(Answer::Healthy, Answer::Healthy),
        "/health/ready",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn no_healthy_gateway_instance_is_degraded() {
    let world = World::new();
    world.add_instance("down", false).await;
    let (status, body) = get(&world, both(Answer::Healthy, Answer::Healthy), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "degraded", "{body}");
    let instances = &body["checks"]["openclaw"]["instances"];
    assert_eq!(instances["total"], 1);
    assert_eq!(instances["healthy"], 0);
}

#[tokio::test]
async fn a_failed_non_critical_probe_is_degraded_and_still_ready() {
    let world = World::new();
    world.add_instance("gw1", true).await;
    let (status, body) = get(&world, both(Answer::Healthy, Answer::Fail), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["redis"]["status"], "unhealthy");
    assert!(
        body["checks"]["redis"]["message"]
            .as_str()
            .unwrap()
            .contains("refused")
    );
    assert_eq!(body["checks"]["database"]["status"], "healthy");

    let (status, body) = get(&world, both(Answer::Healthy, Answer::Fail), "/health/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn a_failed_critical_probe_is_unhealthy_and_not_ready() {
    let world = World::new();
    world.add_instance("gw1", true).await;
    let (status, body) = get(&world, both(Answer::Fail, Answer::Healthy), "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["database"]["status"], "unhealthy");

    let (status, body) = get(&world, both(Answer::Fail, Answer::Healthy), "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not_ready");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("database") && reason.contains("refused"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_probe_hanging_past_the_timeout_counts_as_failed() {
    let world = World::new();
    world.add_instance("gw1", true).await;
    let (status, body) = get(&world, both(Answer::Hang, Answer::Hang), "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unhealthy");
    for dep in ["database", "redis"] {
        let check = &body["checks"][dep];
        assert_eq!(check["status"], "unhealthy");
        assert!(
            check["message"]
                .as_str()
                .unwrap()
                .contains("no answer within")
        );
        // The probe was given its whole timeout (200 ms) before being abandoned.
        assert!(check["latency_ms"].as_f64().unwrap() >= 200.0, "{check}");
    }

    let (status, body) = get(&world, both(Answer::Hang, Answer::Healthy), "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not_ready");

    // A hanging non-critical probe only degrades.
    let (status, body) = get(&world, both(Answer::Healthy, Answer::Hang), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "degraded");
}

/// A probe that answers only once every probe sharing its barrier has started.
struct Rendezvous {
    name: &'static str,
    barrier: Arc<Barrier>,
}

#[async_trait]
impl HealthProbe for Rendezvous {
    fn name(&self) -> &'static str {
        self.name
    }

    fn critical(&self) -> bool {
        true
    }

    async fn probe(&self) -> Result<(), String> {
        self.barrier.wait().await;
        Ok(())
    }
}

#[tokio::test]
async fn probes_run_concurrently() {
    // Run one after the other, the first would wait for the second forever (and time out).
    let world = World::new();
    world.add_instance("gw1", true).await;
    let barrier = Arc::new(Barrier::new(2));
    let probes: Vec<Arc<dyn HealthProbe>> = vec![
        Arc::new(Rendezvous {
            name: "database",
            barrier: barrier.clone(),
        }),
        Arc::new(Rendezvous {
            name: "redis",
            barrier,
        }),
    ];
    let (status, body) = get(&world, probes, "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy", "{body}");
}

#[tokio::test]
async fn liveness_answers_alive_whatever_the_dependencies() {
    let world = World::new();
    let (status, body) = get(&world, both(Answer::Fail, Answer::Hang), "/health/live").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"status": "alive"}));
}

#[test]
fn the_three_routes_are_in_the_openapi_document() {
    let doc = ops::routes().into_openapi();
    let json = serde_json::to_value(&doc).unwrap();
    for path in ["/health", "/health/live", "/health/ready"] {
        assert!(json["paths"][path]["get"].is_object(), "{path} missing");
    }
    let schemas = &json["components"]["schemas"];
    for schema in ["Health", "Liveness", "Readiness", "Checks", "OpenClawCheck"] {
        assert!(schemas[schema].is_object(), "{schema} missing: {schemas}");
    }
}

#[tokio::test]
async fn a_draining_server_is_not_ready() {
    let world = World::new();
    world.engine.start().shutdown().await;
    let (status, body) = get(&world, Vec::new(), "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not_ready");
    assert!(
        body["reason"].as_str().unwrap().contains("shutting down"),
        "{body}"
    );
}
