//! The client's handshake, its errors, laziness, timeouts and teardown, against a scripted
//! gateway.

mod client_support;

use std::time::Duration;

use client_support::{Server, TOKEN, captured_result, config, probe_health, target, until_status};
use godel_lifecycle::{Gateway, GatewayAgent, GatewayConnector, GatewayError, GatewayHealth};
use godel_openclaw::client::ConnectionStatus;
use godel_openclaw::{OpenClawConfig, OpenClawConnector, OpenClawGateway};
use serde_json::json;

fn is_traceparent(value: &serde_json::Value) -> bool {
    value.as_str().is_some_and(|tp| {
        let parts: Vec<&str> = tp.split('-').collect();
        parts.len() == 4 && parts[0] == "00" && parts[1].len() == 32 && parts[2].len() == 16
    })
}

#[tokio::test]
async fn connects_as_a_backend_operator_and_probes_health() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.next_conn().await;
    let connect = conn.handshake(30_000).await;
    let params = &connect["params"];
    assert_eq!(params["minProtocol"], 4);
    assert_eq!(params["maxProtocol"], 4);
    assert_eq!(params["client"]["id"], "gateway-client");
    assert_eq!(params["client"]["mode"], "backend");
    assert_eq!(params["client"]["displayName"], "godel");
    assert_eq!(params["role"], "operator");
    assert_eq!(
        params["scopes"],
        json!(["operator.read", "operator.write", "operator.admin"])
    );
    assert_eq!(params["caps"], json!(["tool-events"]));
    assert_eq!(params["auth"], json!({ "token": TOKEN }));
    assert!(is_traceparent(&connect["traceparent"]), "{connect}");

    let probe = probe_health(gateway);
    let req = conn.expect("health").await;
    assert_eq!(req["params"], json!({}));
    assert!(is_traceparent(&req["traceparent"]), "{req}");
    assert_ne!(req["traceparent"], connect["traceparent"]);
    conn.reply_ok(&req, captured_result("basics", "health"))
        .await;
    let (gateway, health) = probe.await.expect("probe task");
    assert_eq!(
        health,
        Ok(GatewayHealth {
            ok: true,
            degraded: false,
            agents: vec![GatewayAgent {
                id: "main".into(),
                sessions: 0
            }],
            sessions: 0,
        })
    );
    assert!(matches!(
        gateway.status(),
        ConnectionStatus::Connected { generation: 1, ref server_version, .. } if server_version == "2026.9.6"
    ));
    gateway.close().await;
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_and_only_retried_on_demand() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut status = gateway.watch_status();
    let mut conn = server.next_conn().await;
    conn.challenge().await;
    let connect = conn.expect("connect").await;
    conn.reply_err(
        &connect,
        json!({"code": "INVALID_REQUEST",
               "message": "unauthorized: gateway token mismatch (provide gateway auth token)",
               "details": {"code": "AUTH_TOKEN_MISMATCH", "authReason": "token_mismatch"}}),
    )
    .await;
    conn.close(1008, "unauthorized").await;
    until_status(&mut status, "disconnected, unauthorized", |s| {
        matches!(
            s,
            ConnectionStatus::Disconnected {
                error: GatewayError::Unauthorized(_),
                retry_in: None
            }
        )
    })
    .await;
    // The client does not hammer a gateway that refused its token...
    assert!(
        server
            .connects_within(Duration::from_millis(300))
            .await
            .is_none()
    );
    // ...but a call tries again (here the token was fixed on the gateway).
    let probe = probe_health(gateway);
    let mut conn = server.handshaken(30_000).await;
    let req = conn.expect("health").await;
    conn.reply_ok(
        &req,
        json!({"ok": true, "agents": [], "sessions": {"count": 0}}),
    )
    .await;
    let (gateway, health) = probe.await.expect("probe task");
    assert!(health.is_ok(), "{health:?}");
    gateway.close().await;
}

#[tokio::test]
async fn a_call_during_a_refused_handshake_gets_unauthorized() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.next_conn().await;
    let probe = probe_health(gateway);
    conn.challenge().await;
    let connect = conn.expect("connect").await;
    conn.reply_err(
        &connect,
        json!({"code": "INVALID_REQUEST", "message": "unauthorized: gateway token mismatch",
               "details": {"code": "AUTH_TOKEN_MISMATCH"}}),
    )
    .await;
    conn.close(1008, "unauthorized").await;
    let (gateway, health) = probe.await.expect("probe task");
    assert!(
        matches!(health, Err(GatewayError::Unauthorized(ref m)) if m.contains("AUTH_TOKEN_MISMATCH")),
        "{health:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn a_protocol_mismatch_is_a_protocol_error() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.next_conn().await;
    let probe = probe_health(gateway);
    conn.challenge().await;
    let connect = conn.expect("connect").await;
    conn.reply_err(
        &connect,
        json!({"code": "INVALID_REQUEST", "message": "protocol mismatch",
               "details": {"code": "PROTOCOL_MISMATCH", "expectedProtocol": 5}}),
    )
    .await;
    conn.close(1002, "protocol mismatch").await;
    let (gateway, health) = probe.await.expect("probe task");
    assert!(
        matches!(health, Err(GatewayError::Protocol(_))),
        "{health:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn a_gateway_closing_during_the_handshake_is_mapped_by_close_code() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.next_conn().await;
    let probe = probe_health(gateway);
    conn.challenge().await;
    let _ = conn.expect("connect").await;
    conn.close(1002, "unsupported protocol").await;
    let (gateway, health) = probe.await.expect("probe task");
    assert!(
        matches!(health, Err(GatewayError::Protocol(_))),
        "{health:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn a_first_frame_other_than_the_challenge_is_a_protocol_error() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.next_conn().await;
    let probe = probe_health(gateway);
    conn.tick().await;
    assert_eq!(conn.close_code().await, Some(1002));
    let (gateway, health) = probe.await.expect("probe task");
    assert!(
        matches!(health, Err(GatewayError::Protocol(_))),
        "{health:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn a_booting_gateway_is_retried_after_its_retry_after_ms() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.next_conn().await;
    let probe = probe_health(gateway);
    for _ in 0..2 {
        conn.challenge().await;
        let connect = conn.expect("connect").await;
        conn.reply_err(
            &connect,
            json!({"code": "UNAVAILABLE", "message": "gateway starting", "retryable": true, "retryAfterMs": 30}),
        )
        .await;
        conn = server.next_conn().await;
    }
    conn.handshake(30_000).await;
    let req = conn.expect("health").await;
    conn.reply_ok(&req, captured_result("basics", "health"))
        .await;
    let (gateway, health) = probe.await.expect("probe task");
    assert!(health.is_ok(), "{health:?}");
    gateway.close().await;
}

#[tokio::test]
async fn a_gateway_that_stays_unavailable_gives_up_after_the_retries() {
    let mut server = Server::start().await;
    let config = OpenClawConfig {
        handshake_retries: 1,
        ..config()
    };
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config).expect("client");
    let probe = probe_health(gateway);
    for _ in 0..2 {
        let mut conn = server.next_conn().await;
        conn.challenge().await;
        let connect = conn.expect("connect").await;
        conn.reply_err(
            &connect,
            json!({"code": "UNAVAILABLE", "message": "gateway starting", "retryable": true, "retryAfterMs": 10}),
        )
        .await;
    }
    let (gateway, health) = probe.await.expect("probe task");
    assert!(
        matches!(
            health,
            Err(GatewayError::Unavailable {
                retry_after: Some(_),
                ..
            })
        ),
        "{health:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn the_connector_is_lazy_and_checks_endpoints() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("ws://{}", listener.local_addr().expect("address"));
    drop(listener);
    let connector = OpenClawConnector::new(config());
    let gateway = connector
        .connect(&target(&endpoint))
        .await
        .expect("a client even for a gateway that is down");
    let health = gateway.health().await;
    assert!(
        matches!(health, Err(GatewayError::Unavailable { .. })),
        "{health:?}"
    );
    assert!(health.is_err_and(|e| e.is_gateway_fault()));
    for bad in ["http://127.0.0.1:1", "127.0.0.1:1", "wss://gw:1", ""] {
        let refused = connector.connect(&target(bad)).await;
        assert!(
            matches!(refused, Err(GatewayError::Protocol(_))),
            "{bad}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn requests_time_out_when_the_gateway_does_not_answer() {
    let mut server = Server::start().await;
    let config = OpenClawConfig {
        request_timeout: Duration::from_millis(200),
        ..config()
    };
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config).expect("client");
    let mut conn = server.handshaken(30_000).await;
    let probe = probe_health(gateway);
    let _unanswered = conn.expect("health").await;
    let (gateway, health) = probe.await.expect("probe task");
    assert!(
        matches!(health, Err(GatewayError::Timeout(_))),
        "{health:?}"
    );
    // The connection is still usable.
    let probe = probe_health(gateway);
    let req = conn.expect("health").await;
    conn.reply_ok(&req, captured_result("basics", "health"))
        .await;
    let (gateway, health) = probe.await.expect("probe task");
    assert!(health.is_ok(), "{health:?}");
    gateway.close().await;
}

#[tokio::test]
async fn gateway_refusals_keep_their_code_and_retry_hint() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.handshaken(30_000).await;
    let probe = tokio::spawn(async move {
        let first = gateway
            .request("sessions.reset", json!({"key": "agent:main:x"}))
            .await;
        let second = gateway.request("status", json!({})).await;
        (gateway, first, second)
    });
    let req = conn.expect("sessions.reset").await;
    conn.reply_err(
        &req,
        json!({"code": "FORBIDDEN", "message": "missing scope: operator.admin",
               "details": {"code": "MISSING_SCOPE", "missingScope": "operator.admin"}}),
    )
    .await;
    let req = conn.expect("status").await;
    conn.reply_err(
        &req,
        json!({"code": "UNAVAILABLE", "message": "overloaded", "retryable": true, "retryAfterMs": 1500}),
    )
    .await;
    let (gateway, first, second) = probe.await.expect("probe task");
    assert!(
        matches!(&first, Err(GatewayError::Rejected { code, retryable: false, .. }) if code == "FORBIDDEN"),
        "{first:?}"
    );
    assert_eq!(
        second.map_err(|e| e.retry_after()),
        Err(Some(Duration::from_millis(1500)))
    );
    gateway.close().await;
}

#[tokio::test]
async fn close_is_graceful_and_idempotent() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.handshaken(30_000).await;
    let mut status = gateway.watch_status();
    until_status(&mut status, "connected", |s| {
        matches!(s, ConnectionStatus::Connected { .. })
    })
    .await;
    gateway.close().await;
    assert_eq!(conn.close_code().await, Some(1000));
    gateway.close().await;
    assert_eq!(gateway.status(), ConnectionStatus::Closed);
    let after = gateway.health().await;
    assert!(
        matches!(after, Err(GatewayError::Unavailable { .. })),
        "{after:?}"
    );
}

#[tokio::test]
async fn close_while_reconnecting_and_concurrent_closes_are_safe() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("ws://{}", listener.local_addr().expect("address"));
    drop(listener);
    let gateway = std::sync::Arc::new(
        OpenClawGateway::connect(&target(&endpoint), config()).expect("client"),
    );
    let mut status = gateway.watch_status();
    until_status(&mut status, "disconnected", |s| {
        matches!(s, ConnectionStatus::Disconnected { .. })
    })
    .await;
    let (a, b) = (gateway.clone(), gateway.clone());
    let closes = tokio::join!(
        tokio::spawn(async move { a.close().await }),
        tokio::spawn(async move { b.close().await })
    );
    assert!(closes.0.is_ok() && closes.1.is_ok());
    assert_eq!(gateway.status(), ConnectionStatus::Closed);
}

#[tokio::test]
async fn dropping_a_half_connected_client_closes_its_socket() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.next_conn().await;
    // No challenge yet: the client is mid-handshake.
    drop(gateway);
    assert_eq!(conn.recv().await, None);
}

#[tokio::test]
async fn dropping_a_connected_client_closes_its_socket() {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let mut conn = server.handshaken(30_000).await;
    let mut status = gateway.watch_status();
    until_status(&mut status, "connected", |s| {
        matches!(s, ConnectionStatus::Connected { .. })
    })
    .await;
    drop(gateway);
    assert_eq!(conn.close_code().await, Some(1000));
}
