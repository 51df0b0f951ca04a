//! The `connect` handshake, the start-up window and the HTTP probes on the same port.

use std::time::Duration;

use godel_openclaw_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::support::{Client, connect_params, connected, eventually, http_get};

const TOKEN: &str = "sim-token-0123456789";

fn with_token() -> SimConfig {
    SimConfig::default().with_token(TOKEN)
}

#[tokio::test]
async fn a_good_token_gets_hello_ok_with_protocol_4_then_a_health_event() {
    let gateway = Simulator::start(with_token()).await.unwrap();
    let mut client = Client::open(&gateway.endpoint()).await;
    assert!(client.challenge["nonce"].is_string());
    assert!(client.challenge["ts"].is_u64());
    assert_eq!(
        client.challenge["capabilities"],
        json!(["model-catalog-snapshot"])
    );

    let res = client.call("connect", connect_params(Some(TOKEN))).await;
    assert_eq!(res["ok"], true, "{res}");
    let hello = &res["payload"];
    assert_eq!(hello["type"], "hello-ok");
    assert_eq!(hello["protocol"], 4);
    assert_eq!(hello["server"]["version"], "2026.9.6");
    assert!(hello["server"]["connId"].is_string());
    let methods = hello["features"]["methods"].as_array().unwrap();
    for method in [
        "chat.send",
        "agent.wait",
        "chat.abort",
        "sessions.abort",
        "sessions.list",
    ] {
        assert!(methods.iter().any(|m| m == method), "{method} advertised");
    }
    assert!(
        hello["features"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "tick")
    );
    assert_eq!(
        hello["snapshot"]["sessionDefaults"]["defaultAgentId"],
        "main"
    );
    assert_eq!(
        hello["snapshot"]["sessionDefaults"]["mainSessionKey"],
        "agent:main:main"
    );
    assert_eq!(hello["snapshot"]["health"]["ok"], true);
    assert_eq!(hello["auth"]["role"], "operator");
    assert_eq!(
        hello["auth"]["scopes"],
        json!(["operator.read", "operator.write", "operator.admin"])
    );
    assert_eq!(hello["policy"]["tickIntervalMs"], 30_000);
    assert_eq!(hello["policy"]["maxPayload"], 26_214_400);

    let health = client.event(|e| e["event"] == "health").await;
    assert_eq!(
        health["seq"], 1,
        "the first event after hello-ok is health with seq 1"
    );
    assert_eq!(gateway.stats().handshakes_ok, 1);
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_auth_token_mismatch_then_close_1008() {
    let gateway = Simulator::start(with_token()).await.unwrap();
    let mut client = Client::open(&gateway.endpoint()).await;
    let res = client.call("connect", connect_params(Some("wrong"))).await;
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    assert_eq!(
        res["error"]["message"],
        "unauthorized: gateway token mismatch (provide gateway auth token)"
    );
    assert_eq!(res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
    assert_eq!(client.closed().await.map(|c| c.0), Some(1008));
    assert_eq!(gateway.stats().handshakes_refused, 1);
}

#[tokio::test]
async fn a_missing_token_is_refused_when_the_gateway_requires_one() {
    let gateway = Simulator::start(with_token()).await.unwrap();
    let mut client = Client::open(&gateway.endpoint()).await;
    let res = client.call("connect", connect_params(None)).await;
    assert_eq!(res["error"]["details"]["code"], "AUTH_TOKEN_MISSING");
    assert_eq!(client.closed().await.map(|c| c.0), Some(1008));
}

#[tokio::test]
async fn a_protocol_range_without_4_is_refused_with_protocol_mismatch_then_close_1002() {
    let gateway = Simulator::start(with_token()).await.unwrap();
    let mut client = Client::open(&gateway.endpoint()).await;
    let mut params = connect_params(Some(TOKEN));
    params["minProtocol"] = json!(5);
    params["maxProtocol"] = json!(6);
    let res = client.call("connect", params).await;
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["details"]["code"], "PROTOCOL_MISMATCH");
    assert_eq!(client.closed().await.map(|c| c.0), Some(1002));
}

#[tokio::test]
async fn a_first_request_that_is_not_connect_closes_with_1008() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = Client::open(&gateway.endpoint()).await;
    let res = client.call("health", json!({})).await;
    assert_eq!(res["ok"], false);
    assert_eq!(client.closed().await.map(|c| c.0), Some(1008));
}

#[tokio::test]
async fn an_unknown_client_id_closes_with_1008() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = Client::open(&gateway.endpoint()).await;
    let mut params = connect_params(None);
    params["client"]["id"] = json!("godel");
    let res = client.call("connect", params).await;
    assert_eq!(res["ok"], false);
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains("client/id")
    );
    assert_eq!(client.closed().await.map(|c| c.0), Some(1008));
}

#[tokio::test]
async fn the_documented_client_ids_are_accepted() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    for (id, mode) in [
        ("gateway-client", "backend"),
        ("cli", "cli"),
        ("webchat", "webchat"),
        ("control-ui", "ui"),
        ("node-host", "node"),
    ] {
        let mut client = Client::open(&gateway.endpoint()).await;
        let mut params = connect_params(None);
        params["client"]["id"] = json!(id);
        params["client"]["mode"] = json!(mode);
        let res = client.call("connect", params).await;
        assert_eq!(res["ok"], true, "{id}: {res}");
    }
}

#[tokio::test]
async fn an_unknown_field_in_connect_params_closes_with_1008() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = Client::open(&gateway.endpoint()).await;
    let mut params = connect_params(None);
    params["bogus"] = json!(true);
    let res = client.call("connect", params).await;
    assert_eq!(res["ok"], false);
    assert_eq!(client.closed().await.map(|c| c.0), Some(1008));

    let mut client = Client::open(&gateway.endpoint()).await;
    let mut params = connect_params(None);
    params["client"]["nickname"] = json!("x");
    client.call("connect", params).await;
    assert_eq!(client.closed().await.map(|c| c.0), Some(1008));
}

#[tokio::test]
async fn an_unknown_top_level_field_in_a_frame_closes_with_1008() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = Client::open(&gateway.endpoint()).await;
    let frame = json!({"type": "req", "id": "1", "method": "connect", "params": connect_params(None), "extra": 1});
    client.send_text(frame.to_string()).await;
    assert_eq!(client.closed().await.map(|c| c.0), Some(1008));

    // After the handshake too; the simulator keeps serving other connections.
    let mut client = crate::support::connected(&gateway).await;
    let frame = json!({"type": "req", "id": "9", "method": "health", "params": {}, "extra": 1});
    client.send_text(frame.to_string()).await;
    assert_eq!(client.closed().await.map(|c| c.0), Some(1008));
    let mut client = crate::support::connected(&gateway).await;
    client.send_text("{not json".to_owned()).await;
    assert_eq!(client.closed().await.map(|c| c.0), Some(1008));
    let mut client = crate::support::connected(&gateway).await;
    assert_eq!(client.ok("health", json!({})).await["ok"], true);
}

#[tokio::test]
async fn start_up_refusals_answer_unavailable_retryable_until_the_gateway_is_ready() {
    let gateway = Simulator::start(SimConfig::default().with_startup(Duration::ZERO, 2))
        .await
        .unwrap();
    assert_eq!(http_get(&gateway, "/readyz").await.0, 503);
    assert_eq!(
        http_get(&gateway, "/healthz").await.0,
        200,
        "live while starting"
    );
    for _ in 0..2 {
        let mut client = Client::open(&gateway.endpoint()).await;
        let res = client.call("connect", connect_params(None)).await;
        assert_eq!(res["ok"], false);
        assert_eq!(res["error"]["code"], "UNAVAILABLE");
        assert_eq!(res["error"]["retryable"], true);
        assert_eq!(res["error"]["retryAfterMs"], 500);
        assert!(client.closed().await.is_some());
    }
    connected(&gateway).await;
    assert_eq!(http_get(&gateway, "/readyz").await.0, 200);
}

#[tokio::test]
async fn a_timed_start_up_window_closes_by_itself() {
    let gateway = Simulator::start(SimConfig::default().with_startup(Duration::from_secs(1), 0))
        .await
        .unwrap();
    let mut client = Client::open(&gateway.endpoint()).await;
    let res = client.call("connect", connect_params(None)).await;
    assert_eq!(res["error"]["code"], "UNAVAILABLE");
    // Poll readiness the way an orchestrator would.
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    while http_get(&gateway, "/startupz").await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    connected(&gateway).await;
}

#[tokio::test]
async fn http_probes_answer_on_the_websocket_port() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    for path in ["/health", "/healthz"] {
        let (status, body) = http_get(&gateway, path).await;
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!({"ok": true, "status": "live"})
        );
    }
    for path in ["/ready", "/readyz", "/startupz"] {
        assert_eq!(http_get(&gateway, path).await.0, 200, "{path}");
    }
    assert_eq!(http_get(&gateway, "/nope").await.0, 404);
    eventually("http requests counted", || {
        gateway.stats().http_requests == 6
    })
    .await;
    // The same port still speaks WebSocket.
    connected(&gateway).await;
}

#[tokio::test]
async fn malformed_frames_close_only_their_own_connection() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut bystander = connected(&gateway).await;
    let bad_frames = [
        "[]",
        "42",
        r#"{"type":"req"}"#,
        r#"{"type":"res","id":"1","ok":true}"#,
        r#"{"type":"req","id":"1","method":"health","params":5}"#,
        r#"{"type":"req","id":"","method":"health"}"#,
        r#"{"type":"req","id":1,"method":"health"}"#,
        r#"{"type":"req","id":"1","method":"health","traceparent":7}"#,
    ];
    for bad in bad_frames {
        let mut client = connected(&gateway).await;
        client.send_text(bad.to_owned()).await;
        assert_eq!(client.closed().await.map(|c| c.0), Some(1008), "{bad}");
    }
    assert_eq!(bystander.ok("health", json!({})).await["ok"], true);
}
