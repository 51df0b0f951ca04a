//! [`Api`]: the REST API as a client sees it (`reqwest`), answers kept as status plus JSON so a
//! failed check can show what came back, and the waits the scenarios need ("until the task is
//! running"), each bounded by a generous deadline that only guards against hangs.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The default upper bound of a wait.
pub const WAIT: Duration = Duration::from_secs(30);

/// An HTTP client of one server.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

/// One answer: its status and its body (JSON when it parses, else a JSON string of the text).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Reply {
    /// The body, after checking the status is `expected`.
    ///
    /// # Panics
    /// When it is not (the message shows `what` and the whole answer).
    #[track_caller]
    pub fn expect(self, expected: u16, what: &str) -> Value {
        assert_eq!(
            self.status, expected,
            "{what}: expected HTTP {expected}, got {} with {}",
            self.status, self.body
        );
        self.body
    }
}

/// A task's fields the scenarios read.
pub trait TaskView {
    /// `id`.
    fn id(&self) -> &str;
    /// `status`.
    fn status(&self) -> &str;
    /// `started_at`, parsed.
    fn started_at(&self) -> Option<OffsetDateTime>;
}

impl TaskView for Value {
    fn id(&self) -> &str {
        self["id"].as_str().unwrap_or_default()
    }

    fn status(&self) -> &str {
        self["status"].as_str().unwrap_or_default()
    }

    fn started_at(&self) -> Option<OffsetDateTime> {
        self["started_at"]
            .as_str()
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
    }
}

/// A task to submit: a prompt and the options the scenarios vary.
#[derive(Debug, Clone)]
pub struct NewTask {
    body: Value,
}

impl NewTask {
    /// A task whose payload is `{"prompt": prompt}`.
    #[must_use]
    pub fn prompt(prompt: &str) -> Self {
        Self {
            body: json!({ "payload": { "prompt": prompt } }),
        }
    }

    /// `priority`: `low`, `medium`, `high` or `critical`.
    #[must_use]
    pub fn priority(mut self, priority: &str) -> Self {
        self.body["priority"] = json!(priority);
        self
    }

    /// `max_attempts`.
    #[must_use]
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.body["max_attempts"] = json!(n);
        self
    }

    /// `scheduled_at`, `delay` from now.
    ///
    /// # Panics
    /// Never in practice (a near-future UTC time always formats).
    #[must_use]
    pub fn scheduled_in(mut self, delay: Duration) -> Self {
        let at = OffsetDateTime::now_utc() + delay;
        self.body["scheduled_at"] = json!(at.format(&Rfc3339).expect("RFC 3339"));
        self
    }

    /// The JSON body of `POST /tasks`.
    #[must_use]
    pub fn body(&self) -> &Value {
        &self.body
    }
}

impl Api {
    /// A client of `base` (`http://127.0.0.1:PORT`) sending `key` as `X-API-Key`.
    ///
    /// # Panics
    /// When the HTTP client cannot be built.
    #[must_use]
    pub fn new(base: &str, key: Option<&str>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: key.map(str::to_owned),
        }
    }

    /// The same server without a credential.
    #[must_use]
    pub fn anonymous(&self) -> Self {
        Self {
            key: None,
            ..self.clone()
        }
    }

    /// `GET path` (`path` starts with `/`, e.g. `/health` or `/api/v1/tasks`).
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.url(path))).await
    }

    /// `POST path` with a JSON body.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    /// `POST /api/v1/tasks`; the created task (201).
    ///
    /// # Panics
    /// When the answer is not 201.
    pub async fn submit(&self, task: &NewTask) -> Value {
        self.post("/api/v1/tasks", task.body())
            .await
            .expect(201, &format!("POST /api/v1/tasks {}", task.body()))
    }

    /// `GET /api/v1/tasks/{id}` (200).
    ///
    /// # Panics
    /// When the answer is not 200.
    pub async fn task(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/tasks/{id}"))
            .await
            .expect(200, &format!("GET /api/v1/tasks/{id}"))
    }

    /// `POST /api/v1/tasks/{id}/cancel`.
    pub async fn cancel(&self, id: &str) -> Reply {
        self.post(&format!("/api/v1/tasks/{id}/cancel"), &json!({}))
            .await
    }

    /// `POST /api/v1/tasks/{id}/retry`.
    pub async fn retry(&self, id: &str) -> Reply {
        self.post(&format!("/api/v1/tasks/{id}/retry"), &json!({}))
            .await
    }

    /// Polls the task every 100 ms until `done(task)` holds; the task then.
    ///
    /// # Panics
    /// After `limit`, showing the task as last seen and what was awaited.
    pub async fn wait_task(
        &self,
        id: &str,
        what: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let task = self.task(id).await;
            if done(&task) {
                return task;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {id} did not become {what} within {limit:?}; last seen: {task:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to [`WAIT`]) until the task has `status`.
    ///
    /// # Panics
    /// After the deadline.
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        self.wait_task(id, status, WAIT, |t| t.status() == status)
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let request = match &self.key {
            Some(key) => request.header("X-API-Key", key),
            None => request,
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {} failed: {e}", self.base));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }
}
