//! The adapter against the gateway simulator (`godel-openclaw-sim`), an independent
//! implementation of protocol v4: the `Gateway` port end to end over a real WebSocket, including
//! the faults the simulator injects (restarts, dropped connections, start-up refusals).
//!
//! Faults the simulator cannot produce on cue (a wrong protocol version, malformed frames, ticks
//! that stop) are driven by the scripted gateway of `tests/client_*.rs`.

use std::sync::Arc;
use std::time::Duration;

use godel_lifecycle::{
    Gateway, GatewayConnector as _, GatewayError, GatewayTarget, RunEvent, RunHandle, RunId,
    RunRequest, SessionKey,
};
use godel_openclaw::{OpenClawConfig, OpenClawConnector};
use godel_openclaw_sim::{SimConfig, SimGateway, Simulator};
use godel_types::{InstanceId, SessionId, TaskId};

const TOKEN: &str = "sim-token-0123456789";
/// Generous bound for anything to happen; only keeps a broken test from hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// Client settings with short backoffs, so reconnects happen within a test's patience.
fn config() -> OpenClawConfig {
    OpenClawConfig {
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        confirm_timeout: Duration::from_millis(500),
        recheck_interval: Duration::from_millis(200),
        resume_window: Duration::from_secs(5),
        ..OpenClawConfig::default()
    }
}

async fn simulator(config: SimConfig) -> SimGateway {
    Simulator::start(config.with_token(TOKEN))
        .await
        .expect("start a simulated gateway")
}

async fn client(sim: &SimGateway, token: &str) -> Arc<dyn Gateway> {
    let target = GatewayTarget {
        instance: InstanceId::from_u128(1),
        endpoint: sim.endpoint(),
        token: Some(token.to_owned()),
    };
    OpenClawConnector::new(config())
        .connect(&target)
        .await
        .expect("a client for a well-formed endpoint")
}

fn request(message: &str, attempt: u64) -> RunRequest {
    let task = TaskId::from_u128(u128::from(attempt) + 7);
    RunRequest {
        session: SessionKey::for_session("main", SessionId::from_u128(u128::from(attempt) + 11)),
        agent: "main".to_owned(),
        message: message.to_owned(),
        run: RunId::for_attempt(task, attempt),
        timeout: None,
        traceparent: None,
    }
}

/// Every event of a run until its terminal one (included).
async fn run_to_end(handle: &mut RunHandle) -> Vec<RunEvent> {
    let mut seen = Vec::new();
    loop {
        let next = tokio::time::timeout(PATIENCE, handle.events.next())
            .await
            .expect("the run's events keep coming");
        match next {
            Some(event) => {
                let terminal = event.is_terminal();
                seen.push(event);
                if terminal {
                    return seen;
                }
            }
            None => return seen,
        }
    }
}

fn terminal(events: &[RunEvent]) -> &RunEvent {
    events.last().expect("a run ends with a terminal event")
}

#[tokio::test]
async fn the_right_token_gets_a_health_report() {
    let sim = simulator(SimConfig::default()).await;
    let gateway = client(&sim, TOKEN).await;

    let health = gateway.health().await.unwrap();

    assert!(health.ok);
    assert!(health.agents.iter().any(|a| a.id == "main"), "{health:?}");
}

#[tokio::test]
async fn a_wrong_token_is_refused_as_unauthorized() {
    let sim = simulator(SimConfig::default()).await;
    let gateway = client(&sim, "not-the-token").await;

    let refused = gateway.health().await.unwrap_err();

    assert!(
        matches!(refused, GatewayError::Unauthorized(_)),
        "{refused:?}"
    );
    assert!(!refused.is_retryable());
}

#[tokio::test]
async fn a_gateway_still_starting_is_retried_until_it_answers() {
    let sim = simulator(SimConfig::default().with_startup(Duration::ZERO, 2)).await;
    let gateway = client(&sim, TOKEN).await;

    let health = tokio::time::timeout(PATIENCE, gateway.health())
        .await
        .unwrap();

    assert!(health.unwrap().ok);
    assert!(sim.stats().handshakes_refused >= 2, "{:?}", sim.stats());
}

#[tokio::test]
async fn a_run_streams_to_completion_with_the_reply() {
    let sim = simulator(SimConfig::default().with_reply_text("All done.")).await;
    let gateway = client(&sim, TOKEN).await;
    let request = request("Say hello", 1);
    let run = request.run.clone();

    let mut handle = gateway.start_run(request).await.unwrap();
    let events = run_to_end(&mut handle).await;

    assert_eq!(handle.run, run);
    assert!(!handle.resumed);
    assert!(events.contains(&RunEvent::Started), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, RunEvent::Delta { .. })),
        "{events:?}"
    );
    assert_eq!(
        terminal(&events),
        &RunEvent::Completed {
            reply: Some("All done.".to_owned())
        }
    );
    assert_eq!(sim.run_starts(run.as_str()), 1);
}

#[tokio::test]
async fn a_tool_using_run_reports_its_tool_calls() {
    let sim = simulator(SimConfig::default()).await;
    let gateway = client(&sim, TOKEN).await;

    let mut handle = gateway
        .start_run(request("TOOL list the files", 1))
        .await
        .unwrap();
    let events = run_to_end(&mut handle).await;

    let phases: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Tool { phase, .. } => Some(phase.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(phases, ["start", "result"], "{events:?}");
    assert!(matches!(terminal(&events), RunEvent::Completed { .. }));
}

#[tokio::test]
async fn an_aborted_run_ends_as_aborted() {
    let sim = simulator(SimConfig::default().with_slow_duration(Duration::from_secs(20))).await;
    let gateway = client(&sim, TOKEN).await;
    let request = request("SLOW think for a while", 1);
    let (session, run) = (request.session.clone(), request.run.clone());

    let mut handle = gateway.start_run(request).await.unwrap();
    let first = tokio::time::timeout(PATIENCE, handle.events.next())
        .await
        .unwrap();
    assert!(first.is_some(), "the run started");
    assert!(gateway.abort(&session, Some(&run)).await.unwrap());
    let events = run_to_end(&mut handle).await;

    assert_eq!(terminal(&events), &RunEvent::Aborted, "{events:?}");
}

#[tokio::test]
async fn a_provider_error_fails_the_run() {
    let sim = simulator(SimConfig::default()).await;
    let gateway = client(&sim, TOKEN).await;

    let mut handle = gateway.start_run(request("FAIL please", 1)).await.unwrap();
    let events = run_to_end(&mut handle).await;

    assert!(
        matches!(terminal(&events), RunEvent::Failed(_)),
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| e.is_terminal()).count(),
        1,
        "exactly one terminal event despite the gateway's second error: {events:?}"
    );
}

#[tokio::test]
async fn sending_the_same_run_again_resumes_it_under_the_new_follower_and_never_starts_it_twice() {
    let sim = simulator(SimConfig::default().with_slow_duration(Duration::from_secs(1))).await;
    let gateway = client(&sim, TOKEN).await;
    let request = request("SLOW once only", 1);
    let run = request.run.clone();

    let mut first = gateway.start_run(request.clone()).await.unwrap();
    let mut again = gateway.start_run(request).await.unwrap();

    assert!(again.resumed, "the gateway said the run is in flight");
    assert!(
        matches!(
            terminal(&run_to_end(&mut first).await),
            RunEvent::Lost { .. }
        ),
        "the older follower hands the run over to the newer request"
    );
    assert!(matches!(
        terminal(&run_to_end(&mut again).await),
        RunEvent::Completed { .. }
    ));
    assert_eq!(sim.run_starts(run.as_str()), 1);
}

#[tokio::test]
async fn a_dropped_connection_is_reconnected_and_the_run_followed_to_its_end() {
    let sim = simulator(SimConfig::default().with_slow_duration(Duration::from_secs(2))).await;
    let gateway = client(&sim, TOKEN).await;
    let request = request("SLOW keep going", 1);
    let run = request.run.clone();

    let mut handle = gateway.start_run(request).await.unwrap();
    let first = tokio::time::timeout(PATIENCE, handle.events.next())
        .await
        .unwrap();
    assert!(first.is_some(), "the run started");
    sim.drop_connections();
    let events = run_to_end(&mut handle).await;

    assert!(
        matches!(terminal(&events), RunEvent::Completed { .. }),
        "the run kept going on the gateway and its end was confirmed: {events:?}"
    );
    assert_eq!(sim.run_starts(run.as_str()), 1, "never started twice");
    assert!(sim.stats().connections_total >= 2, "the client reconnected");
}

#[tokio::test]
async fn a_run_lost_in_a_gateway_restart_is_reported_lost_and_its_retry_completes() {
    let sim = simulator(SimConfig::default().with_slow_duration(Duration::from_secs(20))).await;
    let gateway = client(&sim, TOKEN).await;
    let request = request("SLOW until the restart", 1);
    let run = request.run.clone();

    let mut handle = gateway.start_run(request).await.unwrap();
    let first = tokio::time::timeout(PATIENCE, handle.events.next())
        .await
        .unwrap();
    assert!(first.is_some(), "the run started");
    sim.kill();
    sim.restart().await.unwrap();
    let events = run_to_end(&mut handle).await;

    assert!(
        matches!(
            terminal(&events),
            RunEvent::Lost { .. } | RunEvent::Failed(_)
        ),
        "a run the restarted gateway no longer knows is not reported completed: {events:?}"
    );
    assert_eq!(
        sim.run_starts(run.as_str()),
        1,
        "started once, before the restart, and never re-sent"
    );
    let mut retry = gateway
        .start_run(self::request("the retry", 2))
        .await
        .unwrap();
    assert!(matches!(
        terminal(&run_to_end(&mut retry).await),
        RunEvent::Completed { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_runs_share_one_connection_and_each_completes_once() {
    let sim = simulator(SimConfig::default().with_run_duration(Duration::from_millis(50))).await;
    let gateway = client(&sim, TOKEN).await;

    let runs: Vec<_> = (0..50)
        .map(|i| {
            let gateway = Arc::clone(&gateway);
            tokio::spawn(async move {
                let mut handle = gateway.start_run(request("go", 100 + i)).await.unwrap();
                let events = run_to_end(&mut handle).await;
                (handle.run, events)
            })
        })
        .collect();
    for run in runs {
        let (id, events) = run.await.unwrap();
        assert!(
            matches!(terminal(&events), RunEvent::Completed { .. }),
            "{id}: {events:?}"
        );
        assert_eq!(sim.run_starts(id.as_str()), 1, "{id}");
    }
    assert_eq!(
        sim.stats().connections_total,
        1,
        "one connection carried all fifty"
    );
}
