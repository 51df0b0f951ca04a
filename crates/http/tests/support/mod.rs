//! Test fixtures: an application over an in-memory engine with the shared fake gateways
//! (`common`; the engine's loops are not started, so runs never end), API keys per role, and
//! request helpers that answer `(status, headers, JSON body)`.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use godel_http::{AppState, HttpOptions, JwtSettings, Role, create_api_key, router};
use godel_types::TenantId;
use serde_json::Value;
use tower::ServiceExt;

#[path = "../common/mod.rs"]
pub mod common;

use common::{FakeFleet, tenant_id};

/// The JWT secret of test apps.
pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

/// An application and credentials for it.
pub struct App {
    pub state: AppState,
    pub router: Router,
    pub tenant: TenantId,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error body>")
    }

    /// Asserts an error answer with the PRD 10.2 body.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.code(), code, "{}", self.text);
        let id = self.body["error"]["request_id"]
            .as_str()
            .unwrap_or_default();
        assert!(!id.is_empty(), "request_id filled: {}", self.text);
        assert_eq!(self.headers["x-request-id"], id);
        assert!(self.body["error"]["message"].is_string());
        assert!(self.body["error"]["retryable"].is_boolean());
    }
}

impl App {
    /// An app with default options and JWT on.
    pub fn new() -> Self {
        Self::with_options(HttpOptions::default())
    }

    /// An app with `options` and JWT on.
    pub fn with_options(options: HttpOptions) -> Self {
        let engine = common::engine(Arc::new(FakeFleet::default()), None);
        let state = AppState::builder(engine)
            .options(options)
            .jwt(jwt_settings())
            .build()
            .unwrap();
        Self {
            router: router(state.clone()),
            state,
            tenant: tenant_id("acme"),
        }
    }

    /// A new API key of `role` for tenant `tenant`.
    pub async fn key_for(&self, tenant: &str, role: Role) -> String {
        create_api_key(&self.state, &tenant_id(tenant), "test", role)
            .await
            .unwrap()
            .0
    }

    /// A new API key of `role` for the default tenant.
    pub async fn key(&self, role: Role) -> String {
        self.key_for("acme", role).await
    }

    /// Sends a request built by `build`.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// `method path` with API key `key` and JSON `body` (if any).
    pub async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if !key.is_empty() {
            request = request.header("x-api-key", key);
        }
        let request = match body {
            Some(b) => request
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        self.send(request).await
    }

    pub async fn get(&self, path: &str, key: &str) -> Answer {
        self.call(Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Answer {
        self.call(Method::POST, path, key, Some(body)).await
    }

    /// Submits a task with `prompt`; returns its id.
    pub async fn submit(&self, key: &str, prompt: &str) -> String {
        let a = self
            .post(
                "/api/v1/tasks",
                key,
                serde_json::json!({ "payload": { "prompt": prompt } }),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        a.body["id"].as_str().unwrap().to_owned()
    }
}

/// The JWT settings of test apps.
pub fn jwt_settings() -> JwtSettings {
    JwtSettings {
        secret: SECRET.to_vec(),
        issuer: "godel".into(),
        audience: "godel-api".into(),
        leeway: Duration::from_secs(30),
    }
}
