//! A fake OpenAI-compatible model provider (feature `fake-model`), for tests that run real
//! OpenClaw gateways: an axum server on `127.0.0.1`, port 0.
//!
//! It answers what a gateway calls: `GET /v1/models`, `POST /v1/chat/completions` (streamed as
//! server-sent events or not) and `POST /v1/responses`. What it answers depends on trigger words
//! in the last real user message (the gateway's injected internal-context block is skipped):
//!
//! | trigger | answer |
//! | --- | --- |
//! | `HTTPnnn` (e.g. `HTTP401`) | that HTTP status with an OpenAI-style error body |
//! | `FAIL` | HTTP 500 (a gateway retries it for 75–90 s: prefer `HTTP401` for a fast failure) |
//! | `TOOL` | a call of the tool `ls` on `"."`; once the tool result is in, the fixed reply |
//! | `SLOW` | [`FakeModelConfig::slow_chunks`] chunks, one per [`FakeModelConfig::slow_interval`] |
//! | anything else | the fixed reply, [`REPLY`] |
//!
//! It is not a model: it never reads the system prompt or the tools it is offered, and the
//! `TOOL` trigger only works on chat completions (the Responses API gets text).

mod chat;
mod prompt;
mod responses;
mod sse;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::prompt::Behaviour;

/// The text every ordinary prompt gets back.
pub const REPLY: &str = "Hello from the fake model. The answer is 42.";

/// The model id it lists and answers as.
pub const MODEL_ID: &str = "fake-model";

/// How long [`FakeModel::shutdown`] waits for open responses before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Largest request body accepted (gateways send long system prompts and tool lists).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// How the fake model behaves.
#[derive(Debug, Clone)]
pub struct FakeModelConfig {
    /// The reply to an ordinary prompt (streamed word by word).
    pub reply: String,
    /// Chunks a `SLOW` prompt streams.
    pub slow_chunks: u32,
    /// Pause before each chunk of a `SLOW` prompt.
    pub slow_interval: Duration,
}

impl Default for FakeModelConfig {
    /// [`REPLY`]; `SLOW` streams 30 chunks, one a second (long enough for an abort to land).
    fn default() -> Self {
        Self {
            reply: REPLY.to_owned(),
            slow_chunks: 30,
            slow_interval: Duration::from_secs(1),
        }
    }
}

/// A running fake model provider. Dropping it stops accepting requests; [`shutdown`](Self::shutdown)
/// also waits for open responses to end.
#[derive(Debug)]
pub struct FakeModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<io::Result<()>>>,
}

/// What the handlers share.
#[derive(Debug)]
struct Shared {
    config: FakeModelConfig,
    /// Model calls so far (`POST` to chat completions or responses).
    requests: AtomicUsize,
    /// The last real user message of each model call, in order.
    prompts: Mutex<Vec<String>>,
    /// Set when shutting down: slow streams stop early.
    closing: AtomicBool,
    /// Makes ids unique.
    next_id: AtomicUsize,
}

impl Shared {
    fn next_id(&self) -> usize {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }
}

impl FakeModel {
    /// Starts a fake model with the default [`FakeModelConfig`] on `127.0.0.1`, port 0.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start() -> io::Result<Self> {
        Self::start_with(FakeModelConfig::default()).await
    }

    /// Starts a fake model with `config` on `127.0.0.1`, port 0.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start_with(config: FakeModelConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            requests: AtomicUsize::new(0),
            prompts: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
            next_id: AtomicUsize::new(1),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A dropped sender stops the server too.
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// The base URL a provider config takes, `http://127.0.0.1:PORT/v1`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many model calls it received (chat completions and responses; not `/v1/models`).
    #[must_use]
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// The last real user message of every model call so far, in order.
    #[must_use]
    pub fn prompts(&self) -> Vec<String> {
        self.shared
            .prompts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops accepting requests, ends slow streams, and waits (up to a few seconds) for open
    /// responses to finish before cutting them off.
    pub async fn shutdown(mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/responses", post(responses))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

async fn models() -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "fake"}],
    }))
    .into_response()
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not found")
}

async fn chat_completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match accept(&shared, &body) {
        Ok((body, behaviour)) => chat::answer(&shared, &body, behaviour),
        Err((status, message)) => error_response(status, &message),
    }
}

async fn responses(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match accept(&shared, &body) {
        Ok((body, behaviour)) => responses::answer(&shared, &body, behaviour),
        Err((status, message)) => error_response(status, &message),
    }
}

/// Counts and records a model call and decides how to answer it; an error status decided by
/// a trigger (or a body that is not JSON) comes back as the `Err` status and message.
fn accept(shared: &Shared, body: &[u8]) -> Result<(Value, Behaviour), (StatusCode, String)> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "request body is not JSON".to_owned(),
        ));
    };
    let text = prompt::last_user_text(&body);
    shared
        .prompts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(text.clone());
    match prompt::behaviour(&text, prompt::ends_with_tool_result(&body)) {
        Behaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err((status, format!("fake upstream error {}", status.as_u16())))
        }
        behaviour => Ok((body, behaviour)),
    }
}

/// An OpenAI-style error body with `status`.
fn error_response(status: StatusCode, message: &str) -> Response {
    let kind = match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        429 => "rate_limit_error",
        500.. => "server_error",
        _ => "error",
    };
    (
        status,
        axum::Json(json!({"error": {"message": message, "type": kind, "code": null}})),
    )
        .into_response()
}

/// Seconds since the epoch, for `created` fields.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The reply split into streamed pieces: words (with their following space), or `slow_chunks`
/// ticks for a slow answer.
fn pieces(config: &FakeModelConfig, slow: bool) -> Vec<String> {
    let mut pieces: Vec<String> = if slow {
        (0..config.slow_chunks.max(1))
            .map(|_| "tick ".to_owned())
            .collect()
    } else {
        config
            .reply
            .split_inclusive(' ')
            .map(str::to_owned)
            .collect()
    };
    if let Some(last) = pieces.last_mut() {
        let trimmed = last.trim_end().len();
        last.truncate(trimmed);
    }
    pieces
}

#[cfg(test)]
mod tests;
