//! End-to-end tests on the real OpenClaw gateway (`openclaw@2026.9.6`): a fake model provider,
//! two gateways started by [`LocalProcessProvisioner`], driven through the adapter's
//! [`Gateway`] port. Each test starts at most two gateways (about 1 GB each) and stops them even
//! when it fails (the provisioner kills what it started when dropped).
//!
//! Left out of the normal run by the default nextest profile (`.config/nextest.toml`);
//! `cargo xtask e2e-openclaw` installs the gateway and runs them (profile `e2e-openclaw`) one at
//! a time with `GODEL_OPENCLAW_NODE`/`GODEL_OPENCLAW_ENTRY` set and `GODEL_TEST_LIVE=require`.
//! Run any other way without a gateway installed, they print that they skipped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use godel_federation::{ProvisionRequest, ProvisionedInstance, Provisioner as _};
use godel_lifecycle::{
    Gateway, GatewayConnector as _, GatewayTarget, RunEvent, RunHandle, RunId, RunRequest, RunWait,
    SessionKey,
};
use godel_openclaw::{
    GatewayCommand, GatewayProcessStats, LocalProcessProvisioner, LocalProvisionerConfig,
    ModelProvider, OpenClawConfig, OpenClawConnector,
};
use godel_test_support::fake_model::{self, FakeModel, FakeModelConfig};
use godel_test_support::live;
use godel_types::{SessionId, TaskId};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Where the xtask wants the gateways' folders (kept there, for their logs).
const ENV_ROOT: &str = "GODEL_E2E_GATEWAY_ROOT";

/// The fake model and the provisioner of one test; dropping it stops every gateway.
struct Fixture {
    model: FakeModel,
    provisioner: LocalProcessProvisioner,
}

impl Fixture {
    /// `None` (test skipped) when no gateway is installed, unless `GODEL_TEST_LIVE=require`.
    async fn start() -> Option<Self> {
        let command = match GatewayCommand::from_env() {
            Ok(command) => command,
            Err(e) => return live::unavailable("the openclaw gateway", e),
        };
        // SLOW answers take 15 s: long enough for an abort or a kill to land mid-run, short
        // enough for the failover's retry to finish quickly.
        let model = FakeModel::start_with(FakeModelConfig {
            slow_chunks: 15,
            ..FakeModelConfig::default()
        })
        .await
        .expect("start the fake model");
        let mut config = LocalProvisionerConfig::new(
            command,
            ModelProvider::openai_compatible(model.url(), fake_model::MODEL_ID),
        );
        // Otherwise the default root, and each gateway's folder is removed when it stops.
        if let Some(root) = std::env::var_os(ENV_ROOT) {
            config.root = PathBuf::from(root);
            config.keep_files = true;
        }
        Some(Self {
            model,
            provisioner: LocalProcessProvisioner::new(config),
        })
    }

    async fn gateway(&self) -> ProvisionedInstance {
        let request = ProvisionRequest {
            max_sessions: 4,
            ..ProvisionRequest::default()
        };
        self.provisioner
            .start(request)
            .await
            .expect("a real gateway starts")
    }

    /// Stops the gateways gracefully (SIGTERM) and returns their final stats.
    async fn stop(&self, instances: &[&ProvisionedInstance]) -> Vec<GatewayProcessStats> {
        let mut stats = Vec::new();
        for instance in instances {
            let before = self.provisioner.stats(instance.id).expect("stats");
            assert!(before.running, "it ran until now: {before:?}");
            self.provisioner.stop(instance.id).await.expect("stop");
            let after = self.provisioner.stats(instance.id).expect("stats");
            assert!(!after.running, "stopped: {after:?}");
            stats.push(after);
        }
        stats
    }
}

/// The adapter's client of `instance`, with `config`.
async fn connect_with(instance: &ProvisionedInstance, config: OpenClawConfig) -> Arc<dyn Gateway> {
    let target = GatewayTarget {
        instance: instance.id,
        endpoint: instance.spec.endpoint.clone(),
        token: instance.spec.token.clone(),
    };
    OpenClawConnector::new(config)
        .connect(&target)
        .await
        .expect("the adapter connects")
}

async fn connect(instance: &ProvisionedInstance) -> Arc<dyn Gateway> {
    connect_with(instance, OpenClawConfig::default()).await
}

/// A fresh Godel session's key on agent `main`, created on `gateway`.
async fn session(gateway: &dyn Gateway) -> SessionKey {
    let key = SessionKey::for_session("main", SessionId::generate());
    gateway
        .ensure_session(&key, "main")
        .await
        .expect("the session is created");
    key
}

async fn start(gateway: &dyn Gateway, key: &SessionKey, message: &str, run: RunId) -> RunHandle {
    let request = RunRequest {
        session: key.clone(),
        agent: "main".to_owned(),
        message: message.to_owned(),
        run: run.clone(),
        timeout: Some(Duration::from_secs(120)),
        traceparent: None,
    };
    let handle = gateway.start_run(request).await.expect("the run starts");
    assert_eq!(handle.run, run);
    handle
}

/// The events of a run up to and including its terminal one (or a timeout failure).
async fn follow(handle: &mut RunHandle, within: Duration) -> Vec<RunEvent> {
    let mut events = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, handle.events.next())
            .await
            .unwrap_or_else(|_| panic!("no terminal event within {within:?}: {events:?}"));
        let Some(event) = event else {
            panic!("the stream ended without a terminal event: {events:?}");
        };
        let terminal = event.is_terminal();
        events.push(event);
        if terminal {
            return events;
        }
    }
}

/// Follows a run until its first assistant text arrives (the model is streaming).
async fn until_first_delta(handle: &mut RunHandle) -> Vec<RunEvent> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, handle.events.next())
            .await
            .unwrap_or_else(|_| panic!("no assistant text within 60 s: {events:?}"))
            .unwrap_or_else(|| panic!("the stream ended early: {events:?}"));
        assert!(!event.is_terminal(), "ended before streaming: {event:?}");
        let delta = matches!(event, RunEvent::Delta { .. });
        events.push(event);
        if delta {
            return events;
        }
    }
}

fn reply_of(events: &[RunEvent]) -> Option<String> {
    match events.last() {
        Some(RunEvent::Completed { reply }) => reply.clone(),
        other => panic!("expected a completed run, got {other:?} after {events:?}"),
    }
}

/// Connects to `instance` over raw WebSocket as a backend client (`gateway-client`, mode
/// `backend`), retrying while the gateway says it is still starting; returns `hello-ok`.
async fn raw_handshake(instance: &ProvisionedInstance) -> Value {
    let token = instance.spec.token.as_deref().expect("a token");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (mut socket, _) = tokio_tungstenite::connect_async(instance.spec.endpoint.as_str())
            .await
            .expect("the WebSocket opens");
        let challenge = next_json(&mut socket).await;
        assert_eq!(challenge["event"], "connect.challenge", "{challenge}");
        let connect = json!({
            "type": "req", "id": "1", "method": "connect",
            "params": {
                "minProtocol": 4, "maxProtocol": 4,
                "client": {"id": "gateway-client", "version": "0.1.0", "platform": "linux",
                           "mode": "backend", "displayName": "godel-e2e"},
                "role": "operator", "scopes": ["operator.read", "operator.write"],
                "auth": {"token": token},
            },
        });
        socket
            .send(Message::text(connect.to_string()))
            .await
            .expect("send connect");
        let answer = loop {
            let frame = next_json(&mut socket).await;
            if frame["type"] == "res" && frame["id"] == "1" {
                break frame;
            }
        };
        let _ = socket.close(None).await;
        if answer["ok"] == true {
            return answer["payload"].clone();
        }
        let retry = answer["error"]["retryable"] == true && Instant::now() < deadline;
        assert!(retry, "connect refused: {answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn next_json<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame within 20 s")
            .expect("the socket stays open")
            .expect("a readable frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("a JSON frame");
        }
    }
}

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_accept_a_backend_client_serve_a_run_each_and_report_their_cost() {
    let Some(fixture) = Fixture::start().await else {
        return;
    };
    // One after the other, so each start-up time is a gateway's own.
    let first = fixture.gateway().await;
    let second = fixture.gateway().await;
    let (a, b) = (
        fixture.provisioner.stats(first.id).expect("stats"),
        fixture.provisioner.stats(second.id).expect("stats"),
    );
    assert!(
        a.port.abs_diff(b.port) >= 120,
        "ports {} and {}",
        a.port,
        b.port
    );
    for instance in [&first, &second] {
        // The bare handshake first: the provisioner's gateway speaks protocol v4 to a backend.
        let hello = raw_handshake(instance).await;
        assert_eq!(hello["type"], "hello-ok", "{hello}");
        assert_eq!(hello["protocol"], 4);
        // Then one run through the adapter, so the memory measured is a working gateway's.
        let gateway = connect(instance).await;
        let key = session(gateway.as_ref()).await;
        let run = RunId::for_attempt(TaskId::generate(), 1);
        let mut handle = start(gateway.as_ref(), &key, "Say hello", run).await;
        let events = follow(&mut handle, Duration::from_secs(60)).await;
        assert_eq!(reply_of(&events).as_deref(), Some(fake_model::REPLY));
    }
    assert_eq!(fixture.model.requests(), 2, "one model call per run");
    let stats = fixture.stop(&[&first, &second]).await;
    for (n, s) in stats.iter().enumerate() {
        eprintln!(
            "gateway {}: start-up {:.1} s, peak RSS {} MiB (+ children {} MiB = {} MiB)",
            n + 1,
            s.startup.as_secs_f64(),
            mib(s.peak_rss_bytes),
            mib(s.children_peak_rss_bytes),
            mib(s.total_peak_rss_bytes()),
        );
        assert!(s.startup < Duration::from_secs(60));
        assert!(s.peak_rss_bytes > 100 * 1024 * 1024, "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_completes_with_the_model_reply() {
    let Some(fixture) = Fixture::start().await else {
        return;
    };
    let instance = fixture.gateway().await;
    let gateway = connect(&instance).await;
    let health = gateway.health().await.expect("health");
    assert!(health.ok, "{health:?}");
    assert!(health.agents.iter().any(|a| a.id == "main"), "{health:?}");

    let key = session(gateway.as_ref()).await;
    let run = RunId::for_attempt(TaskId::generate(), 1);
    let began = Instant::now();
    let mut handle = start(gateway.as_ref(), &key, "Say hello", run.clone()).await;
    let events = follow(&mut handle, Duration::from_secs(60)).await;
    eprintln!("run completed in {:.2} s", began.elapsed().as_secs_f64());
    assert_eq!(reply_of(&events).as_deref(), Some(fake_model::REPLY));
    assert!(
        events.iter().any(|e| matches!(e, RunEvent::Delta { .. })),
        "{events:?}"
    );
    assert!(
        fixture
            .model
            .prompts()
            .iter()
            .any(|p| p.contains("Say hello"))
    );

    let wait = gateway
        .wait(&run, Duration::from_secs(5))
        .await
        .expect("wait");
    assert!(matches!(wait, RunWait::Completed { .. }), "{wait:?}");
    let sessions = gateway.list_sessions(50).await.expect("sessions");
    assert!(sessions.iter().any(|s| s.key == key), "{sessions:?}");
    fixture.stop(&[&instance]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_using_run_reports_its_tool_events_and_completes() {
    let Some(fixture) = Fixture::start().await else {
        return;
    };
    let instance = fixture.gateway().await;
    let gateway = connect(&instance).await;
    let key = session(gateway.as_ref()).await;
    let run = RunId::for_attempt(TaskId::generate(), 1);
    let mut handle = start(gateway.as_ref(), &key, "TOOL: list the workspace", run).await;
    let events = follow(&mut handle, Duration::from_secs(60)).await;
    assert_eq!(reply_of(&events).as_deref(), Some(fake_model::REPLY));
    for phase in ["start", "result"] {
        assert!(
            events.iter().any(
                |e| matches!(e, RunEvent::Tool { name, phase: p } if name == "ls" && p == phase)
            ),
            "no ls {phase} in {events:?}"
        );
    }
    assert!(
        fixture.model.requests() >= 2,
        "the tool call and the answer"
    );
    fixture.stop(&[&instance]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_run_ends_as_aborted() {
    let Some(fixture) = Fixture::start().await else {
        return;
    };
    let instance = fixture.gateway().await;
    let gateway = connect(&instance).await;
    let key = session(gateway.as_ref()).await;
    let run = RunId::for_attempt(TaskId::generate(), 1);
    let mut handle = start(
        gateway.as_ref(),
        &key,
        "SLOW: count to fifteen",
        run.clone(),
    )
    .await;
    until_first_delta(&mut handle).await;
    let began = Instant::now();
    assert!(
        gateway.abort(&key, Some(&run)).await.expect("abort"),
        "the gateway aborted a run"
    );
    let events = follow(&mut handle, Duration::from_secs(30)).await;
    eprintln!("abort landed in {:.2} s", began.elapsed().as_secs_f64());
    assert_eq!(events.last(), Some(&RunEvent::Aborted), "{events:?}");
    fixture.stop(&[&instance]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_error_fails_the_run() {
    let Some(fixture) = Fixture::start().await else {
        return;
    };
    let instance = fixture.gateway().await;
    let gateway = connect(&instance).await;
    let key = session(gateway.as_ref()).await;
    let run = RunId::for_attempt(TaskId::generate(), 1);
    // 401 fails at once; a 500 would be retried by the gateway for 75-90 s.
    let mut handle = start(gateway.as_ref(), &key, "HTTP401 please", run).await;
    let events = follow(&mut handle, Duration::from_secs(60)).await;
    match events.last() {
        Some(RunEvent::Failed(failure)) => eprintln!("provider error surfaced as: {failure:?}"),
        other => panic!("expected a failed run, got {other:?} after {events:?}"),
    }
    fixture.stop(&[&instance]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_a_killed_gateway_is_lost_and_its_retry_completes_on_the_other() {
    let Some(fixture) = Fixture::start().await else {
        return;
    };
    let (first, second) = tokio::join!(fixture.gateway(), fixture.gateway());
    // Followed runs give up on a dead gateway after 10 s instead of the default 60 s.
    let config = OpenClawConfig {
        resume_window: Duration::from_secs(10),
        ..OpenClawConfig::default()
    };
    let doomed = connect_with(&first, config.clone()).await;
    let survivor = connect_with(&second, config).await;
    let task = TaskId::generate();
    let message = "SLOW: the task to fail over";

    let key = session(doomed.as_ref()).await;
    let mut handle = start(doomed.as_ref(), &key, message, RunId::for_attempt(task, 1)).await;
    until_first_delta(&mut handle).await;
    fixture
        .provisioner
        .kill(first.id)
        .await
        .expect("kill the first gateway");
    let began = Instant::now();
    let events = follow(&mut handle, Duration::from_secs(90)).await;
    eprintln!(
        "the killed gateway's run ended after {:.1} s with {:?}",
        began.elapsed().as_secs_f64(),
        events.last()
    );
    assert!(
        matches!(
            events.last(),
            Some(RunEvent::Lost { .. } | RunEvent::Failed(_))
        ),
        "{events:?}"
    );

    let key = session(survivor.as_ref()).await;
    let retry = RunId::for_attempt(task, 2);
    let mut handle = start(survivor.as_ref(), &key, message, retry).await;
    let events = follow(&mut handle, Duration::from_secs(90)).await;
    let reply = reply_of(&events).unwrap_or_default();
    assert!(reply.starts_with("tick"), "{reply:?}");
    fixture.stop(&[&second]).await;
}
