//! The load of a chaos scenario and the checks on it: [`Client`], a REST client that reports an
//! unreachable server instead of panicking (the server may be down on purpose); [`Load`], a
//! bounded submitter running beside the faults that keeps a [`Ledger`] of every task whose
//! submit was answered 2xx; the wait until every accepted task is terminal; and
//! [`TerminalTally`], the terminal `task.*` events per task seen on `/events`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::chaos::scale::Scale;
use crate::events::EventStream;

/// The terminal task statuses.
pub const TERMINAL: [&str; 3] = ["completed", "dead_letter", "cancelled"];

/// The terminal task events.
const TERMINAL_EVENTS: [&str; 3] = ["task.completed", "task.dead_lettered", "task.cancelled"];

/// A client of a server that may be down; its base URL can be repointed after a restart.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Arc<Mutex<String>>,
    key: String,
}

impl Client {
    /// A client of `base` (`http://127.0.0.1:PORT`) with the API key `key`.
    ///
    /// # Panics
    /// When the HTTP client cannot be built.
    #[must_use]
    pub fn new(base: &str, key: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        Self {
            http,
            base: Arc::new(Mutex::new(base.trim_end_matches('/').to_owned())),
            key: key.to_owned(),
        }
    }

    /// Points this client (and its clones) at `base` (a restarted server's new address).
    pub fn repoint(&self, base: &str) {
        *self.base.lock().expect("base URL") = base.trim_end_matches('/').to_owned();
    }

    /// `POST /api/v1/tasks` with `body`: the new task's id on 2xx, else why not.
    ///
    /// # Errors
    /// The status and body of a non-2xx answer, or the transport error.
    pub async fn submit(&self, body: &Value) -> Result<String, String> {
        let (status, answer) = self
            .send(self.http.post(self.url("/api/v1/tasks")).json(body))
            .await?;
        if (200..300).contains(&status) {
            answer["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("HTTP {status} without an id: {answer}"))
        } else {
            Err(format!("HTTP {status}: {answer}"))
        }
    }

    /// `GET path`: the status and JSON body.
    ///
    /// # Errors
    /// The transport error (server down).
    pub async fn get(&self, path: &str) -> Result<(u16, Value), String> {
        self.send(self.http.get(self.url(path))).await
    }

    /// `GET /metrics` (public on loopback): the Prometheus text, or the transport error.
    ///
    /// # Errors
    /// The transport error, or a non-200 status.
    pub async fn metrics(&self) -> Result<String, String> {
        let response = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(format!("HTTP {status}: {text}"))
        }
    }

    /// `GET /api/v1/tasks/{id}` when it answers 200.
    pub async fn task(&self, id: &str) -> Option<Value> {
        match self.get(&format!("/api/v1/tasks/{id}")).await {
            Ok((200, task)) => Some(task),
            _ => None,
        }
    }

    /// The `health` of the instance registered at `endpoint` (`GET /api/v1/instances`).
    pub async fn instance_health(&self, endpoint: &str) -> Option<String> {
        let (_, page) = self.get("/api/v1/instances?limit=100").await.ok()?;
        page["items"]
            .as_array()?
            .iter()
            .find(|i| i["endpoint"] == endpoint)
            .and_then(|i| i["health"].as_str().map(str::to_owned))
    }

    /// `GET /health`: its `status` field, or `unreachable`.
    pub async fn health(&self) -> (String, Value) {
        match self.get("/health").await {
            Ok((_, body)) => (body["status"].as_str().unwrap_or("?").to_owned(), body),
            Err(e) => ("unreachable".to_owned(), json!(e)),
        }
    }

    /// Polls `/health` every 200 ms until `done(status, body)` holds; how long that took.
    ///
    /// # Panics
    /// After `limit`, with the last answer and what was awaited.
    pub async fn wait_health(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&str, &Value) -> bool,
    ) -> Duration {
        let started = tokio::time::Instant::now();
        loop {
            let (status, body) = self.health().await;
            if done(&status, &body) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "/health did not show {what} within {limit:?}; last: {status} {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.lock().expect("base URL"))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
        let response = request
            .header("X-API-Key", &self.key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }
}

/// What a load submitted: the accepted tasks (2xx) in order, and the refused submissions.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Ids of the tasks whose submit was answered 2xx.
    pub accepted: Vec<String>,
    /// Why the other submissions failed (server down, 503...).
    pub refused: Vec<String>,
}

/// A submitter running in the background.
#[derive(Debug)]
pub struct Load {
    handle: JoinHandle<Ledger>,
}

impl Load {
    /// Starts submitting `scale.tasks` tasks, one every `scale.submit_every`, through `client`;
    /// task `i` gets the payload `make(i)` (the body of `POST /tasks`).
    #[must_use]
    pub fn start(
        client: &Client,
        scale: Scale,
        make: impl Fn(usize) -> Value + Send + 'static,
    ) -> Self {
        let client = client.clone();
        let handle = tokio::spawn(async move {
            let mut ledger = Ledger::default();
            let mut tick = tokio::time::interval(scale.submit_every);
            for i in 0..scale.tasks {
                tick.tick().await;
                match client.submit(&make(i)).await {
                    Ok(id) => ledger.accepted.push(id),
                    Err(why) => ledger.refused.push(why),
                }
            }
            ledger
        });
        Self { handle }
    }

    /// Waits for the last submission; the ledger.
    ///
    /// # Panics
    /// When the submitter panicked.
    pub async fn finish(self) -> Ledger {
        self.handle.await.expect("the submitter")
    }
}

/// The body of a chaos task: prompt `chaos <label> #<i>`, up to `max_attempts` attempts.
#[must_use]
pub fn chaos_task(label: &str, i: usize, max_attempts: u32) -> Value {
    json!({
        "payload": { "prompt": format!("chaos {label} #{i}") },
        "max_attempts": max_attempts,
    })
}

/// Polls every task of `ids` until all are terminal; their last views, by id.
///
/// # Errors
/// After `limit`: the ids of the tasks still not terminal, and a description of each (status,
/// attempts, last error).
pub async fn try_wait_all_terminal(
    client: &Client,
    ids: &[String],
    limit: Duration,
) -> Result<BTreeMap<String, Value>, (Vec<String>, String)> {
    let started = tokio::time::Instant::now();
    let mut done: BTreeMap<String, Value> = BTreeMap::new();
    let mut last: HashMap<String, Value> = HashMap::new();
    loop {
        let open: Vec<&String> = ids.iter().filter(|id| !done.contains_key(*id)).collect();
        for id in open {
            if let Some(task) = client.task(id).await {
                if is_terminal(&task) {
                    done.insert(id.clone(), task);
                } else {
                    last.insert(id.clone(), task);
                }
            }
        }
        if done.len() == ids.len() {
            return Ok(done);
        }
        if started.elapsed() > limit {
            let stuck: Vec<String> = ids
                .iter()
                .filter(|id| !done.contains_key(*id))
                .cloned()
                .collect();
            let lines: Vec<String> = stuck
                .iter()
                .map(|id| {
                    let t = last.get(id).cloned().unwrap_or(Value::Null);
                    format!(
                        "{id}: {} (attempts {}, agent {}, last error {})",
                        t["status"], t["attempt_count"], t["agent_id"], t["last_error"]
                    )
                })
                .collect();
            let message = format!(
                "{} of {} accepted tasks reached no terminal state within {limit:?}:\n{}",
                stuck.len(),
                ids.len(),
                lines.join("\n")
            );
            return Err((stuck, message));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// [`try_wait_all_terminal`], panicking with its description after `limit`.
///
/// # Panics
/// After `limit`, listing the tasks still not terminal with their status and last error.
pub async fn wait_all_terminal(
    client: &Client,
    ids: &[String],
    limit: Duration,
) -> BTreeMap<String, Value> {
    try_wait_all_terminal(client, ids, limit)
        .await
        .unwrap_or_else(|(_, message)| panic!("{message}"))
}

/// Whether the task view's status is terminal.
#[must_use]
pub fn is_terminal(task: &Value) -> bool {
    TERMINAL.contains(&task["status"].as_str().unwrap_or_default())
}

/// Counts of final statuses (`completed: 38, dead_letter: 2`), for reports.
#[must_use]
pub fn status_counts(tasks: &BTreeMap<String, Value>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for task in tasks.values() {
        *counts
            .entry(task["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    counts
}

/// Checks that every accepted task stayed in the terminal state it reached: re-reads each
/// after the others settled and compares.
///
/// # Panics
/// When a task's status changed after it was terminal, or it cannot be read.
pub async fn assert_terminal_states_stable(client: &Client, seen: &BTreeMap<String, Value>) {
    for (id, before) in seen {
        let now = client
            .task(id)
            .await
            .unwrap_or_else(|| panic!("task {id} cannot be read any more"));
        assert_eq!(
            now["status"], before["status"],
            "task {id} left its terminal state: was {before:#}, now {now:#}"
        );
    }
}

/// Terminal `task.*` events per task, from a background `/events` subscriber.
#[derive(Debug)]
pub struct TerminalTally {
    counts: Arc<Mutex<HashMap<String, Vec<String>>>>,
    handle: JoinHandle<()>,
}

impl TerminalTally {
    /// Subscribes to `task.*` on `base` with `key` and counts terminal events from now on.
    pub async fn subscribe(base: &str, key: &str) -> Self {
        let mut stream = EventStream::connect(base, key, &["task.*"]).await;
        let counts: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let sink = Arc::clone(&counts);
        let handle = tokio::spawn(async move {
            while let Some(event) = stream.next_event(Duration::from_secs(3600)).await {
                let name = event["event"].as_str().unwrap_or_default();
                if TERMINAL_EVENTS.contains(&name)
                    && let Some(id) = event["data"]["id"].as_str()
                {
                    sink.lock()
                        .expect("tally")
                        .entry(id.to_owned())
                        .or_default()
                        .push(name.to_owned());
                }
            }
        });
        Self { counts, handle }
    }

    /// Tasks with more than one terminal event, and those events.
    #[must_use]
    pub fn repeated(&self) -> Vec<(String, Vec<String>)> {
        self.counts
            .lock()
            .expect("tally")
            .iter()
            .filter(|(_, names)| names.len() > 1)
            .map(|(id, names)| (id.clone(), names.clone()))
            .collect()
    }

    /// How many tasks had a terminal event.
    #[must_use]
    pub fn tasks(&self) -> usize {
        self.counts.lock().expect("tally").len()
    }
}

impl Drop for TerminalTally {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
