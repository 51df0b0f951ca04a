//! Authentication, RBAC, audit and rate limits: what gets in, what is refused, what is recorded.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use godel_engine::access::AuditOutcome;
use godel_http::auth::jwt::{Claims, issue};
use godel_http::{HttpOptions, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support::{App, jwt_settings};

fn claims() -> Claims {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Claims {
        sub: "ci-bot".into(),
        iss: "godel".into(),
        aud: "godel-api".into(),
        exp: now + 600,
        iat: now,
        nbf: None,
        jti: "j-1".into(),
        tenant_id: "acme".into(),
        role: Role::Viewer,
    }
}

async fn with_bearer(app: &App, token: &str) -> support::Answer {
    app.send(
        Request::get("/api/v1/tasks")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_valid_jwt_is_accepted() {
    let app = App::new();
    let token = issue(&jwt_settings(), &claims()).unwrap();
    let answer = with_bearer(&app, &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn bad_jwts_are_401() {
    let app = App::new();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let settings = jwt_settings();
    let sign = |c: &Claims| issue(&settings, c).unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims()).unwrap().as_bytes());
    let unsigned = format!("{header}.{payload}.");
    let wrong_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"another-secret-another-secret-1234"),
    )
    .unwrap();
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims(),
        &EncodingKey::from_secret(support::SECRET),
    )
    .unwrap();
    let mut missing_jti = serde_json::to_value(claims()).unwrap();
    missing_jti.as_object_mut().unwrap().remove("jti");
    let missing_jti = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &missing_jti,
        &EncodingKey::from_secret(support::SECRET),
    )
    .unwrap();
    let tokens = [
        ("unsigned", unsigned),
        ("wrong key", wrong_key),
        ("HS512", hs512),
        (
            "expired",
            sign(&Claims {
                exp: now - 120,
                ..claims()
            }),
        ),
        (
            "not yet valid",
            sign(&Claims {
                nbf: Some(now + 600),
                ..claims()
            }),
        ),
        (
            "wrong issuer",
            sign(&Claims {
                iss: "evil".into(),
                ..claims()
            }),
        ),
        (
            "wrong audience",
            sign(&Claims {
                aud: "other".into(),
                ..claims()
            }),
        ),
        ("missing jti", missing_jti),
        ("garbage", "a.b.c".to_owned()),
    ];
    for (what, token) in tokens {
        let answer = with_bearer(&app, &token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.text
        );
        answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

#[tokio::test]
async fn path_and_query_tricks_never_reach_a_protected_route() {
    let app = App::new();
    for path in [
        "/api/v1/tasks",
        "/api/v1/tasks?x=/health",
        "/health/..%2Fapi/v1/tasks",
        "/health/../api/v1/tasks",
        "//api/v1/tasks",
        "/HEALTH",
        "/api/v1/tasks?token=dk_live_nope",
        "/metrics",
    ] {
        app.get(path, "")
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_ne!(
        app.get("/health/live", "").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/openapi.json", "").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoked_and_unknown_keys_fail() {
    let app = App::new();
    let admin = app.key(Role::Admin).await;
    let created = app
        .post(
            "/api/v1/api-keys",
            &admin,
            json!({"name": "ci", "role": "viewer"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(created.body["key"].get("hash").is_none());
    assert_eq!(
        app.get("/api/v1/tasks", &secret).await.status,
        StatusCode::OK
    );
    let id = created.body["key"]["id"].as_str().unwrap();
    let revoked = app
        .call(
            axum::http::Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert!(revoked.body["revoked_at"].is_string());
    app.get("/api/v1/tasks", &secret)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let (unknown, ..) = godel_http::generate_key(true);
    app.get("/api/v1/tasks", &unknown)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let listed = app.get("/api/v1/api-keys", &admin).await;
    assert_eq!(listed.body["total"], 2, "{}", listed.text);
}

async fn audit_entries(app: &App, outcome: AuditOutcome) -> Vec<godel_engine::access::AuditEntry> {
    for _ in 0..100 {
        let all = app.state.audit().list(None, None, 1000).await.unwrap();
        let found: Vec<_> = all.into_iter().filter(|e| e.outcome == outcome).collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn a_viewer_cannot_cancel_and_the_refusal_is_audited() {
    let app = App::new();
    let dev = app.key(Role::Developer).await;
    let viewer = app.key(Role::Viewer).await;
    let id = app.submit(&dev, "keep me").await;
    app.post(&format!("/api/v1/tasks/{id}/cancel"), &viewer, json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let forbidden = audit_entries(&app, AuditOutcome::Forbidden).await;
    assert_eq!(forbidden.len(), 1);
    assert_eq!(forbidden[0].action, "task.cancel");
    assert_eq!(forbidden[0].target.as_deref(), Some(id.as_str()));
    let created = audit_entries(&app, AuditOutcome::Success).await;
    assert!(
        created.iter().any(|e| e.action == "task.create"),
        "{created:?}"
    );
    app.post(
        "/api/v1/api-keys",
        &dev,
        json!({"name": "x", "role": "admin"}),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn failed_authentication_is_audited_without_the_secret() {
    let app = App::new();
    let (secret, ..) = godel_http::generate_key(true);
    app.get("/api/v1/tasks", &secret).await;
    let entries = audit_entries(&app, AuditOutcome::Unauthenticated).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "api_key");
    assert!(
        !serde_json::to_string(&entries[0])
            .unwrap()
            .contains(&secret)
    );
}

#[tokio::test]
async fn rate_limits_are_announced_and_enforced() {
    let app = App::with_options(HttpOptions {
        rate_burst: 2,
        rate_per_second: 0.01,
        ..HttpOptions::default()
    });
    let viewer = app.key(Role::Viewer).await;
    let first = app.get("/api/v1/tasks", &viewer).await;
    assert_eq!(first.headers["x-ratelimit-limit"], "2");
    assert_eq!(first.headers["x-ratelimit-remaining"], "1");
    assert!(first.headers.contains_key("x-ratelimit-reset"));
    app.get("/api/v1/tasks", &viewer).await;
    let refused = app.get("/api/v1/tasks", &viewer).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        refused.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(refused.body["error"]["retryable"], true);
    let other = app.key(Role::Viewer).await;
    assert_eq!(
        app.get("/api/v1/tasks", &other).await.status,
        StatusCode::OK,
        "per credential"
    );
}
