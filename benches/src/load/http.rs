//! [`Http`]: the few requests a load run sends, over one pooled `reqwest` client. Answers are
//! judged by their status; a body is read only where the run needs it (the new task's id, the
//! health counts), so the generator spends its CPU sending, not decoding.

use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Deserialize;
use serde_json::Value;

/// How long one request may take before it counts as a timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How one request ended, as the report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A 2xx answer.
    Ok,
    /// Another status.
    Status(u16),
    /// No answer within the timeout.
    Timeout,
    /// The connection failed.
    Connect,
    /// Anything else (a broken body, a reset).
    Other,
    /// Not sent: too many requests were already in flight.
    Overflow,
}

impl Outcome {
    /// The error kind the report counts it under; `None` for [`Outcome::Ok`].
    #[must_use]
    pub fn error_kind(self) -> Option<String> {
        match self {
            Self::Ok => None,
            Self::Status(code) => Some(format!("http_{code}")),
            Self::Timeout => Some("timeout".to_owned()),
            Self::Connect => Some("connect".to_owned()),
            Self::Other => Some("transport".to_owned()),
            Self::Overflow => Some("in_flight_overflow".to_owned()),
        }
    }
}

/// What `/health` says about the gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GatewayCounts {
    /// Registered instances.
    pub total: u32,
    /// Healthy ones.
    pub healthy: u32,
}

/// A client of one server, authenticated with its admin key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    key: String,
}

/// One read the load mixes in with the submissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// `GET /api/v1/tasks/{id}` of a recent task.
    Task,
    /// `GET /api/v1/tasks?limit=20`.
    List,
    /// `GET /api/v1/queue/depth`.
    Depth,
}

impl Read {
    /// The reads in the order they are sent round-robin.
    pub const MIX: [Self; 3] = [Self::Task, Self::List, Self::Depth];
}

impl Http {
    /// A client of `base` (`http://127.0.0.1:PORT`) sending `key` as `X-API-Key`.
    ///
    /// # Errors
    /// When the HTTP stack cannot be set up.
    pub fn new(base: &str, key: &str) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .build()
            .context("build the HTTP client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
    }

    /// `POST /api/v1/tasks` of task number `n`; its outcome and, when asked, the new task's id.
    pub async fn submit(&self, n: u64, want_id: bool) -> (Outcome, Option<String>) {
        let body = format!(r#"{{"payload":{{"prompt":"load task {n}"}},"priority":"medium"}}"#);
        let sent = self
            .client
            .post(format!("{}/api/v1/tasks", self.base))
            .header("x-api-key", &self.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return (classify(&e), None),
        };
        let status = response.status();
        let bytes = response.bytes().await;
        if !status.is_success() {
            return (Outcome::Status(status.as_u16()), None);
        }
        match bytes {
            Ok(bytes) if want_id => {
                #[derive(Deserialize)]
                struct Created {
                    id: String,
                }
                let id = serde_json::from_slice::<Created>(&bytes).ok().map(|c| c.id);
                (Outcome::Ok, id)
            }
            Ok(_) => (Outcome::Ok, None),
            Err(e) => (classify(&e), None),
        }
    }

    /// One read; `task` is the id a [`Read::Task`] asks for (without one it reads the depth).
    pub async fn read(&self, read: Read, task: Option<&str>) -> Outcome {
        let path = match (read, task) {
            (Read::Task, Some(id)) => format!("/api/v1/tasks/{id}"),
            (Read::List, _) => "/api/v1/tasks?limit=20".to_owned(),
            (Read::Depth | Read::Task, _) => "/api/v1/queue/depth".to_owned(),
        };
        let sent = self
            .client
            .get(format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) if status.is_success() => Outcome::Ok,
                    Ok(_) => Outcome::Status(status.as_u16()),
                    Err(e) => classify(&e),
                }
            }
            Err(e) => classify(&e),
        }
    }

    /// The gateway counts of `GET /health` (which answers 503 with the same body when
    /// unhealthy).
    ///
    /// # Errors
    /// When the server does not answer or the body has no instance counts.
    pub async fn health(&self) -> Result<GatewayCounts> {
        let body: Value = self
            .client
            .get(format!("{}/health", self.base))
            .send()
            .await
            .context("GET /health")?
            .json()
            .await
            .context("decode /health")?;
        let instances = &body["checks"]["openclaw"]["instances"];
        let count = |name: &str| {
            instances[name]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .with_context(|| format!("/health has no instance count {name:?}: {body}"))
        };
        Ok(GatewayCounts {
            total: count("total")?,
            healthy: count("healthy")?,
        })
    }

    /// The number of tasks `GET /api/v1/queue/depth` counts as due (`total`, or the sum of
    /// `by_priority`).
    ///
    /// # Errors
    /// When the server does not answer or the body has no depth.
    pub async fn queue_depth(&self) -> Result<u64> {
        let body: Value = self
            .client
            .get(format!("{}/api/v1/queue/depth", self.base))
            .header("x-api-key", &self.key)
            .send()
            .await
            .context("GET /api/v1/queue/depth")?
            .json()
            .await
            .context("decode the queue depth")?;
        depth_of(&body).with_context(|| format!("no depth in {body}"))
    }
}

/// The due depth of a `/queue/depth` answer: its `total`, else the sum of its priority counts.
fn depth_of(body: &Value) -> Option<u64> {
    if let Some(total) = body["total"].as_u64() {
        return Some(total);
    }
    let levels = body["by_priority"].as_object()?;
    Some(levels.values().filter_map(Value::as_u64).sum())
}

fn classify(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else if e.is_connect() {
        Outcome::Connect
    } else {
        Outcome::Other
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn outcomes_name_their_error_kind() {
        assert_eq!(Outcome::Ok.error_kind(), None);
        assert_eq!(
            Outcome::Status(429).error_kind().as_deref(),
            Some("http_429")
        );
        assert_eq!(
            Outcome::Overflow.error_kind().as_deref(),
            Some("in_flight_overflow")
        );
    }

    #[test]
    fn the_depth_is_the_total_or_the_sum_of_the_levels() {
        assert_eq!(
            depth_of(&json!({"total": 7, "by_priority": {"high": 1}})),
            Some(7)
        );
        assert_eq!(
            depth_of(&json!({"by_priority": {"high": 1, "low": 2}})),
            Some(3)
        );
        assert_eq!(depth_of(&json!({"x": 1})), None);
    }
}
