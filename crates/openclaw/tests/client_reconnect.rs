//! Losing and regaining the connection: dropped sockets, missed ticks, gateway restarts,
//! malformed frames; followed runs are resumed and confirmed with `agent.wait`, or lost.

mod client_support;

use std::sync::Arc;
use std::time::Duration;

use client_support::{
    Conn, Server, captured_result, collect, config, run_events, target, terminals, until_status,
};
use godel_lifecycle::{Gateway, GatewayError, RunEvent, RunHandle, RunId, RunRequest, SessionKey};
use godel_openclaw::client::ConnectionStatus;
use godel_openclaw::{OpenClawConfig, OpenClawGateway};
use serde_json::json;

const REPLY: &str = "Hello from the fake model. The answer is 42.";

async fn start_run(gateway: &Arc<OpenClawGateway>, conn: &mut Conn, run: &str) -> RunHandle {
    let client = gateway.clone();
    let request = RunRequest {
        session: SessionKey::new("agent:main:godel-1"),
        agent: "main".into(),
        message: "Say hello".into(),
        run: RunId::new(run),
        timeout: None,
        traceparent: None,
    };
    let started = tokio::spawn(async move { client.start_run(request).await });
    let send = conn.expect("chat.send").await;
    conn.reply_ok(&send, json!({"runId": run, "status": "started"}))
        .await;
    started.await.expect("task").expect("run started")
}

async fn setup(config: OpenClawConfig, tick_ms: u64) -> (Server, Arc<OpenClawGateway>, Conn) {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config).expect("client");
    let conn = server.handshaken(tick_ms).await;
    (server, Arc::new(gateway), conn)
}

#[tokio::test]
async fn a_run_ended_while_disconnected_is_confirmed_by_agent_wait() {
    let (mut server, gateway, mut conn) = setup(config(), 30_000).await;
    let mut handle = start_run(&gateway, &mut conn, "run-across").await;
    let frames = run_events("chat_send", "run-across");
    for frame in frames.iter().take(6) {
        conn.send(frame.clone()).await;
    }
    drop(conn); // the socket dies mid-run, without a close frame
    let mut conn = server.handshaken(30_000).await;
    let wait = conn.expect("agent.wait").await;
    assert_eq!(
        wait["params"],
        json!({"runId": "run-across", "timeoutMs": 200})
    );
    conn.reply_ok(&wait, captured_result("chat_send", "agent.wait"))
        .await;
    let events = collect(&mut handle.events).await;
    assert_eq!(
        terminals(&events),
        vec![&RunEvent::Completed {
            reply: Some(REPLY.into())
        }]
    );
    assert!(events.contains(&RunEvent::Started));
    assert!(matches!(
        gateway.status(),
        ConnectionStatus::Connected { generation: 2, .. }
    ));
    gateway.close().await;
}

#[tokio::test]
async fn a_run_still_going_after_a_reconnect_keeps_streaming() {
    let (mut server, gateway, mut conn) = setup(config(), 30_000).await;
    let mut handle = start_run(&gateway, &mut conn, "run-long").await;
    let frames = run_events("chat_send", "run-long");
    for frame in frames.iter().take(4) {
        conn.send(frame.clone()).await;
    }
    conn.close(1012, "service restart").await;
    let mut conn = server.handshaken(30_000).await;
    let wait = conn.expect("agent.wait").await;
    conn.reply_ok(&wait, json!({"runId": "run-long", "status": "timeout"}))
        .await;
    // "Still running" is checked against the sessions the gateway says are active.
    let list = conn.expect("sessions.list").await;
    assert_eq!(list["params"], json!({"limit": 1000, "activeOnly": true}));
    conn.reply_ok(
        &list,
        json!({"count": 1, "hasMore": false, "sessions": [
        {"key": "agent:main:godel-1", "status": "running", "hasActiveRun": true}]}),
    )
    .await;
    for frame in frames.iter().skip(4) {
        conn.send(frame.clone()).await;
    }
    let events = collect(&mut handle.events).await;
    assert_eq!(
        terminals(&events),
        vec![&RunEvent::Completed {
            reply: Some(REPLY.into())
        }]
    );
    gateway.close().await;
}

#[tokio::test]
async fn a_run_forgotten_by_a_crashed_gateway_is_lost() {
    let (mut server, gateway, mut conn) = setup(config(), 30_000).await;
    let mut handle = start_run(&gateway, &mut conn, "run-forgotten").await;
    drop(conn);
    let mut conn = server.handshaken(30_000).await;
    // Observed after a SIGKILL and restart: agent.wait times out on the forgotten run, and
    // its session is not active (the gateway recovered it under another run id).
    let wait = conn.expect("agent.wait").await;
    conn.reply_ok(
        &wait,
        json!({"runId": "run-forgotten", "status": "timeout"}),
    )
    .await;
    let list = conn.expect("sessions.list").await;
    conn.reply_ok(
        &list,
        json!({"count": 0, "totalCount": 0, "hasMore": false, "sessions": []}),
    )
    .await;
    let events = collect(&mut handle.events).await;
    assert!(
        matches!(events.as_slice(), [RunEvent::Lost { reason }] if reason.contains("no longer runs")),
        "{events:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn a_silent_run_is_checked_again_until_its_session_is_idle() {
    let config = OpenClawConfig {
        recheck_interval: Duration::from_millis(100),
        ..config()
    };
    let (mut server, gateway, mut conn) = setup(config, 30_000).await;
    let mut handle = start_run(&gateway, &mut conn, "run-recovered").await;
    drop(conn);
    let mut conn = server.handshaken(30_000).await;
    // Observed after a SIGKILL: the restarted gateway re-runs the session under another run
    // id, so at first the session is active, and idle once that recovery run ends.
    for active in [true, true, false] {
        let wait = conn.expect("agent.wait").await;
        assert_eq!(wait["params"]["runId"], "run-recovered");
        conn.reply_ok(
            &wait,
            json!({"runId": "run-recovered", "status": "timeout"}),
        )
        .await;
        let list = conn.expect("sessions.list").await;
        let sessions = if active {
            json!([{"key": "agent:main:godel-1", "status": "running", "hasActiveRun": true}])
        } else {
            json!([])
        };
        conn.reply_ok(&list, json!({"hasMore": false, "sessions": sessions}))
            .await;
    }
    let events = collect(&mut handle.events).await;
    assert!(
        matches!(events.as_slice(), [RunEvent::Lost { .. }]),
        "{events:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn a_run_whose_end_cannot_be_confirmed_is_lost_not_failed() {
    let (mut server, gateway, mut conn) = setup(config(), 30_000).await;
    let mut handle = start_run(&gateway, &mut conn, "run-unknown").await;
    conn.close(1000, "done").await;
    let mut conn = server.handshaken(30_000).await;
    let wait = conn.expect("agent.wait").await;
    conn.reply_err(
        &wait,
        json!({"code": "INVALID_REQUEST", "message": "unknown run: run-unknown"}),
    )
    .await;
    let events = collect(&mut handle.events).await;
    assert!(
        matches!(events.as_slice(), [RunEvent::Lost { .. }]),
        "{events:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn runs_are_lost_when_no_reconnect_succeeds_in_time() {
    let config = OpenClawConfig {
        resume_window: Duration::from_millis(300),
        ..config()
    };
    let (server, gateway, mut conn) = setup(config, 30_000).await;
    let mut handle = start_run(&gateway, &mut conn, "run-stranded").await;
    server.stop_listening();
    drop(server);
    conn.close(1012, "service restart").await;
    let events = collect(&mut handle.events).await;
    assert!(
        matches!(events.as_slice(), [RunEvent::Lost { reason }] if reason.contains("no connection")),
        "{events:?}"
    );
    // Calls fail fast meanwhile.
    let health = gateway.health().await;
    assert!(
        matches!(health, Err(GatewayError::Unavailable { .. })),
        "{health:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn requests_in_flight_fail_when_the_connection_drops() {
    let (mut server, gateway, mut conn) = setup(config(), 30_000).await;
    let client = gateway.clone();
    let probe = tokio::spawn(async move { client.health().await });
    let _ = conn.expect("health").await;
    conn.send(json!({"type": "event", "event": "shutdown", "payload": {"reason": "gateway stopping"}, "seq": 1}))
        .await;
    conn.close(1012, "service restart").await;
    let health = probe.await.expect("task");
    assert!(
        matches!(&health, Err(GatewayError::Unavailable { message, .. }) if message.contains("1012")),
        "{health:?}"
    );
    // It reconnects by itself after the restart.
    let _conn = server.handshaken(30_000).await;
    let mut status = gateway.watch_status();
    until_status(&mut status, "reconnected", |s| {
        matches!(s, ConnectionStatus::Connected { generation: 2, .. })
    })
    .await;
    gateway.close().await;
}

#[tokio::test]
async fn missed_ticks_mean_a_dead_connection() {
    let (mut server, gateway, mut conn) = setup(config(), 100).await;
    let mut handle = start_run(&gateway, &mut conn, "run-silent").await;
    // The gateway goes silent (no tick, no close): the client gives up on the connection.
    let mut conn = server.handshaken(30_000).await;
    let wait = conn.expect("agent.wait").await;
    conn.reply_ok(&wait, captured_result("chat_send", "agent.wait"))
        .await;
    let events = collect(&mut handle.events).await;
    assert!(
        matches!(events.as_slice(), [RunEvent::Completed { .. }]),
        "{events:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn ticks_keep_a_quiet_connection_alive() {
    let (mut server, gateway, mut conn) = setup(config(), 100).await;
    let ticking = tokio::spawn(async move {
        for _ in 0..25 {
            conn.tick().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        conn
    });
    assert!(
        server
            .connects_within(Duration::from_millis(450))
            .await
            .is_none(),
        "no reconnect while ticks arrive"
    );
    let _conn = ticking.await.expect("ticking task");
    assert!(matches!(
        gateway.status(),
        ConnectionStatus::Connected { generation: 1, .. }
    ));
    gateway.close().await;
}

#[tokio::test]
async fn a_malformed_frame_resets_the_connection() {
    let (mut server, gateway, mut conn) = setup(config(), 30_000).await;
    let mut handle = start_run(&gateway, &mut conn, "run-garbled").await;
    let client = gateway.clone();
    let probe = tokio::spawn(async move { client.health().await });
    let _ = conn.expect("health").await;
    conn.send_text(r#"{"type":"res","id":"2","ok":tru"#).await;
    assert_eq!(conn.close_code().await, Some(1002));
    let health = probe.await.expect("task");
    assert!(
        matches!(health, Err(GatewayError::Unavailable { .. })),
        "{health:?}"
    );
    // A binary frame on the next connection is refused the same way.
    let mut conn = server.handshaken(30_000).await;
    let _ = conn.expect("agent.wait").await;
    conn.send_binary(&[0xde, 0xad]).await;
    assert_eq!(conn.close_code().await, Some(1002));
    // Third time lucky: the run's end is confirmed.
    let mut conn = server.handshaken(30_000).await;
    let wait = conn.expect("agent.wait").await;
    conn.reply_ok(&wait, captured_result("chat_send", "agent.wait"))
        .await;
    let events = collect(&mut handle.events).await;
    assert!(
        matches!(events.as_slice(), [RunEvent::Completed { .. }]),
        "{events:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn unknown_responses_and_odd_events_are_ignored() {
    let (_server, gateway, mut conn) = setup(config(), 30_000).await;
    let mut handle = start_run(&gateway, &mut conn, "run-odd").await;
    // Valid frames the client has no use for, or with payloads it cannot read.
    conn.send(json!({"type": "res", "id": "999", "ok": true, "payload": {}}))
        .await;
    conn.send(json!({"type": "event", "event": "agent", "payload": {"runId": "run-odd", "stream": "lifecycle", "data": {}}}))
        .await;
    conn.send(json!({"type": "event", "event": "chat", "payload": {"state": "final"}}))
        .await;
    conn.send(json!({"type": "req", "id": "x", "method": "node.invoke", "params": {}}))
        .await;
    conn.send(json!({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n"}}))
        .await;
    for frame in run_events("chat_send", "run-odd") {
        conn.send(frame).await;
    }
    let events = collect(&mut handle.events).await;
    assert_eq!(terminals(&events).len(), 1);
    assert!(matches!(events.last(), Some(RunEvent::Completed { .. })));
    assert!(matches!(
        gateway.status(),
        ConnectionStatus::Connected { generation: 1, .. }
    ));
    gateway.close().await;
}

#[tokio::test]
async fn closing_ends_followed_runs_as_lost() {
    let (_server, gateway, mut conn) = setup(config(), 30_000).await;
    let mut handle = start_run(&gateway, &mut conn, "run-closed").await;
    gateway.close().await;
    let events = collect(&mut handle.events).await;
    assert!(
        matches!(events.as_slice(), [RunEvent::Lost { .. }]),
        "{events:?}"
    );
}
