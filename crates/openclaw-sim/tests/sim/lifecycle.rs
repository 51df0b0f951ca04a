//! The gateway's life: ticks, graceful shutdown, kill and restart, dropped connections, hangs,
//! and fifty gateways in one process.

use std::time::Duration;

use godel_openclaw_sim::{SimConfig, SimFleet, Simulator};
use serde_json::json;

use crate::support::{Client, Frame, connected, eventually, is_chat_terminal, send_params};

#[tokio::test]
async fn tick_events_arrive_every_tick_interval_with_the_connection_seq() {
    let gateway =
        Simulator::start(SimConfig::default().with_tick_interval(Duration::from_millis(50)))
            .await
            .unwrap();
    let mut client = connected(&gateway).await;
    let first = client.event(|e| e["event"] == "tick").await;
    let second = client.event(|e| e["event"] == "tick").await;
    assert!(first["payload"]["ts"].is_u64());
    assert!(second["seq"].as_u64() > first["seq"].as_u64());
}

#[tokio::test]
async fn a_websocket_ping_is_answered_with_a_pong_without_waiting_for_other_traffic() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    client.ping(b"are you there").await;
}

#[tokio::test]
async fn graceful_shutdown_sends_the_shutdown_event_then_close_1012() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    let addr = gateway.addr();
    let stopping = tokio::spawn(gateway.shutdown());
    let shutdown = client.event(|e| e["event"] == "shutdown").await;
    assert_eq!(shutdown["payload"], json!({"reason": "gateway stopping"}));
    assert_eq!(
        client.closed().await,
        Some((1012, "service restart".to_owned()))
    );
    stopping.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn kill_drops_connections_without_a_close_frame_and_restart_serves_fresh_state() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    client
        .ok("chat.send", send_params("agent:main:k", "hello", "run-k"))
        .await;
    client.run_events("run-k", is_chat_terminal).await;

    gateway.kill();
    assert_eq!(client.closed().await, None, "no close frame on a kill");
    assert!(!gateway.is_running());
    eventually("no open connection", || {
        gateway.stats().connections_current == 0
    })
    .await;
    assert!(
        tokio::net::TcpStream::connect(gateway.addr())
            .await
            .is_err()
    );

    gateway.restart().await.unwrap();
    let mut client = connected(&gateway).await;
    let sessions = client.ok("sessions.list", json!({"limit": 10})).await;
    assert_eq!(sessions["totalCount"], 0, "a restart forgets sessions");
    // The idempotency cache is gone too: the same key starts a second run, which the counter shows.
    let again = client
        .ok("chat.send", send_params("agent:main:k", "hello", "run-k"))
        .await;
    assert_eq!(again["status"], "started");
    assert_eq!(gateway.run_starts("run-k"), 2);
}

#[tokio::test]
async fn restart_without_kill_replaces_the_running_instance() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    gateway.restart().await.unwrap();
    assert_eq!(client.closed().await, None);
    connected(&gateway).await;
    assert_eq!(gateway.stats().connections_total, 2);
}

#[tokio::test]
async fn drop_connections_keeps_listening_and_runs_going() {
    let gateway =
        Simulator::start(SimConfig::default().with_slow_duration(Duration::from_millis(400)))
            .await
            .unwrap();
    let mut client = connected(&gateway).await;
    client
        .ok("chat.send", send_params("agent:main:dc", "SLOW", "run-dc"))
        .await;
    gateway.drop_connections();
    assert_eq!(client.closed().await, None);
    let mut client = connected(&gateway).await;
    let wait = client
        .ok(
            "agent.wait",
            json!({"runId": "run-dc", "timeoutMs": 10_000}),
        )
        .await;
    assert_eq!(wait["status"], "ok", "the run survived its connection");
}

#[tokio::test]
async fn a_hung_gateway_answers_nothing_until_the_hang_is_lifted() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    gateway.set_hang(true);
    client.request("health", json!({})).await;
    // Absence of an answer can only be observed over some time; 300 ms is plenty for a loopback.
    let frame = client.frame_within(Duration::from_millis(300)).await;
    assert!(
        !matches!(&frame, Some(Frame::Json(v)) if v["type"] == "res"),
        "a hung gateway must not answer: {frame:?}"
    );
    let pending_connect = tokio::spawn({
        let endpoint = gateway.endpoint();
        async move { Client::open(&endpoint).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !pending_connect.is_finished(),
        "not even the upgrade is answered"
    );
    gateway.set_hang(false);
    let mut late = pending_connect.await.unwrap();
    assert_eq!(
        late.call("connect", crate::support::connect_params(None))
            .await["ok"],
        true
    );
    assert_eq!(client.ok("health", json!({})).await["ok"], true);
}

#[tokio::test]
async fn fifty_simulated_gateways_in_one_process_each_complete_a_run() {
    let fleet = SimFleet::start(50, SimConfig::default()).await.unwrap();
    assert_eq!(fleet.endpoints().len(), 50);
    let runs = fleet.gateways().iter().enumerate().map(|(i, gateway)| {
        let endpoint = gateway.endpoint();
        async move {
            let mut client =
                crate::support::connected_with(&endpoint, crate::support::connect_params(None))
                    .await;
            let run_id = format!("fleet-{i}");
            client
                .ok(
                    "chat.send",
                    send_params("agent:main:fleet", "hello", &run_id),
                )
                .await;
            let events = client.run_events(&run_id, is_chat_terminal).await;
            events.last().unwrap()["payload"]["state"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let states = futures_util::future::join_all(runs).await;
    assert!(states.iter().all(|s| s == "final"), "{states:?}");
    for gateway in fleet.gateways() {
        assert_eq!(gateway.stats().runs_started, 1);
    }
    fleet.shutdown().await;
}
