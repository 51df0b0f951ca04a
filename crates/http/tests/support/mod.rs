//! Test fixtures: an application over an in-memory engine with a fake gateway, API keys per
//! role, and request helpers that answer `(status, headers, JSON body)`.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use godel_engine::{Engine, Stores};
use godel_http::{AppState, HttpOptions, JwtSettings, Role, create_api_key, router};
use godel_lifecycle::{
    Gateway, GatewayAgent, GatewayConnector, GatewayError, GatewayHealth, GatewaySession,
    GatewaySessionInfo, GatewayTarget, RunHandle, RunRequest, RunWait, SessionKey,
};
use godel_queue::QueueConfig;
use godel_types::TenantId;
use serde_json::Value;
use tower::ServiceExt;

/// The JWT secret of test apps.
pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

/// A gateway that is always healthy and never finishes a run.
#[derive(Debug)]
struct QuietGateway;

#[async_trait]
impl Gateway for QuietGateway {
    async fn health(&self) -> Result<GatewayHealth, GatewayError> {
        Ok(GatewayHealth {
            ok: true,
            degraded: false,
            agents: vec![GatewayAgent {
                id: "main".into(),
                sessions: 0,
            }],
            sessions: 0,
        })
    }
    async fn ensure_session(
        &self,
        key: &SessionKey,
        _agent: &str,
    ) -> Result<GatewaySession, GatewayError> {
        Ok(GatewaySession {
            key: key.clone(),
            gateway_id: None,
            created: true,
        })
    }
    async fn start_run(&self, _request: RunRequest) -> Result<RunHandle, GatewayError> {
        Err(GatewayError::unavailable("quiet gateway runs nothing"))
    }
    async fn wait(
        &self,
        _run: &godel_lifecycle::RunId,
        _timeout: Duration,
    ) -> Result<RunWait, GatewayError> {
        Err(GatewayError::unavailable("quiet"))
    }
    async fn abort(
        &self,
        _key: &SessionKey,
        _run: Option<&godel_lifecycle::RunId>,
    ) -> Result<bool, GatewayError> {
        Ok(true)
    }
    async fn close_session(&self, _key: &SessionKey) -> Result<(), GatewayError> {
        Ok(())
    }
    async fn list_sessions(&self, _limit: u32) -> Result<Vec<GatewaySessionInfo>, GatewayError> {
        Ok(Vec::new())
    }
}

/// Connects every endpoint to a [`QuietGateway`].
#[derive(Debug)]
struct QuietFleet;

#[async_trait]
impl GatewayConnector for QuietFleet {
    async fn connect(&self, _target: &GatewayTarget) -> Result<Arc<dyn Gateway>, GatewayError> {
        Ok(Arc::new(QuietGateway))
    }
}

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
        let clock = Arc::new(godel_engine::TokioClock::default());
        let stores = Stores::in_memory(QueueConfig::default(), clock.clone()).unwrap();
        let engine = Engine::builder(stores, Arc::new(QuietFleet))
            .clock(clock)
            .build();
        let state = AppState::builder(engine)
            .options(options)
            .jwt(jwt_settings())
            .build()
            .unwrap();
        Self {
            router: router(state.clone()),
            state,
            tenant: TenantId::parse("acme").unwrap(),
        }
    }

    /// A new API key of `role` for tenant `tenant`.
    pub async fn key_for(&self, tenant: &str, role: Role) -> String {
        let tenant = TenantId::parse(tenant).unwrap();
        create_api_key(&self.state, &tenant, "test", role)
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
