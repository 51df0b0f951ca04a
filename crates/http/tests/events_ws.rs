//! The `/events` WebSocket end to end: a real server on a random port, real clients
//! (`tokio-tungstenite`), events published by the engine.

mod ops_support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use futures_util::{SinkExt, StreamExt};
use godel_engine::BroadcastBus;
use godel_http::{AppState, events};
use godel_types::{Event, EventBody, SystemEvent, SystemEventKind};
use ops_support::{World, options, serve, state, with_test_principal};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long a test waits for a frame it expects before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// Serves the events routes over `world`, with the test principal layer.
async fn start(world: &World, ping: Duration, buffer: usize) -> SocketAddr {
    start_with_state(world, ping, buffer).await.0
}

/// As [`start`], also returning the server's state (to shut it down).
async fn start_with_state(world: &World, ping: Duration, buffer: usize) -> (SocketAddr, AppState) {
    let state: AppState = state(world, options(ping, buffer), Vec::new())
        .build()
        .unwrap();
    let app: Router = with_test_principal(events::routes()).with_state(state.clone());
    (serve(app).await, state)
}

/// A test client of `/events`.
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects as a viewer of `tenant`.
    async fn connect(addr: SocketAddr, tenant: &str) -> Self {
        let (ws, _) = connect_async(format!("ws://{addr}/events?tenant={tenant}"))
            .await
            .unwrap();
        Self { ws }
    }

    async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    /// The next frame of any kind.
    async fn frame(&mut self) -> Message {
        tokio::time::timeout(PATIENCE, self.ws.next())
            .await
            .expect("a frame should arrive")
            .expect("the connection should stay open")
            .expect("the frame should be well formed")
    }

    /// The next JSON text frame (pings and pongs skipped).
    async fn json(&mut self) -> Value {
        loop {
            match self.frame().await {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Subscribes to `patterns` and checks the ack.
    async fn subscribe(&mut self, patterns: &[&str]) -> Value {
        self.send(json!({"action": "subscribe", "patterns": patterns}))
            .await;
        let ack = self.json().await;
        assert_eq!(ack["type"], "subscribed", "{ack}");
        ack
    }

    /// The next event frame named `name`, failing on any other event frame.
    async fn event(&mut self, name: &str) -> Value {
        let frame = self.json().await;
        assert_eq!(frame["type"], "event", "{frame}");
        assert_eq!(frame["event"], name, "{frame}");
        frame
    }
}

/// Publishes a fleet-wide `system.alert` saying `message`.
fn alert(world: &World, message: String) {
    world.engine.bus().publish(Event::new(
        None,
        time::OffsetDateTime::now_utc(),
        EventBody::System(SystemEventKind::Alert, SystemEvent { message }),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_receives_task_created_with_the_task_as_data() {
    let world = World::new();
    let addr = start(&world, Duration::from_secs(30), 64).await;
    let mut client = Client::connect(addr, "acme").await;
    let ack = client.subscribe(&["task.*"]).await;
    assert_eq!(ack, json!({"type": "subscribed", "patterns": ["task.*"]}));

    let task = world.submit("acme", "fix the build").await;
    let frame = client.event("task.created").await;
    assert_eq!(frame["data"]["id"], task.id.to_string());
    assert_eq!(frame["data"]["status"], "pending");
    assert_eq!(frame["tenant_id"], "acme");
    assert!(frame["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(frame["timestamp"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribing_stops_delivery() {
    let world = World::new();
    let addr = start(&world, Duration::from_secs(30), 64).await;
    let mut client = Client::connect(addr, "acme").await;
    client.subscribe(&["task.*", "system.*"]).await;
    client
        .send(json!({"action": "unsubscribe", "patterns": ["task.*"]}))
        .await;
    assert_eq!(
        client.json().await,
        json!({"type": "unsubscribed", "patterns": ["system.*"]})
    );

    world.submit("acme", "not for you").await;
    alert(&world, "sentinel".into());
    // Events reach a connection in publication order: had task.created been sent, it would
    // come first.
    let frame = client.event("system.alert").await;
    assert_eq!(frame["data"]["message"], "sentinel");
    assert_eq!(frame["tenant_id"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sees_its_tenant_and_fleet_events_only() {
    let world = World::new();
    let addr = start(&world, Duration::from_secs(30), 64).await;
    let mut acme = Client::connect(addr, "acme").await;
    let mut globex = Client::connect(addr, "globex").await;
    acme.subscribe(&["*"]).await;
    globex.subscribe(&["*"]).await;

    let theirs = world.submit("globex", "secret plans").await;
    let ours = world.submit("acme", "our work").await;
    alert(&world, "end".into());

    let mut seen = Vec::new();
    loop {
        let frame = acme.json().await;
        assert_eq!(frame["type"], "event", "{frame}");
        if frame["event"] == "system.alert" {
            break;
        }
        assert_eq!(frame["tenant_id"], "acme", "{frame}");
        seen.push(frame["data"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, [ours.id.to_string()]);

    let frame = globex.event("task.created").await;
    assert_eq!(frame["data"]["id"], theirs.id.to_string());
    // Next comes the alert, not acme's task.
    globex.event("system.alert").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_wide_instance_and_agent_events_reach_every_tenant() {
    let world = World::new();
    let addr = start(&world, Duration::from_secs(30), 64).await;
    let mut client = Client::connect(addr, "acme").await;
    client.subscribe(&["instance.*", "agent.*"]).await;
    let (_, instance) = world.add_instance("gw1", true).await;
    let frame = client.event("instance.registered").await;
    assert_eq!(frame["data"]["id"], instance.id.to_string());
    assert_eq!(frame["tenant_id"], Value::Null);
    loop {
        let frame = client.json().await;
        if frame["event"] == "agent.connected" {
            assert_eq!(frame["data"]["instance_id"], instance.id.to_string());
            break;
        }
        assert!(
            frame["event"].as_str().unwrap().starts_with("instance."),
            "{frame}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_an_error_frame_and_the_connection_stays_open() {
    let world = World::new();
    let addr = start(&world, Duration::from_secs(30), 64).await;
    let mut client = Client::connect(addr, "acme").await;

    for bad in [
        Message::Text("{not json".into()),
        Message::Text(json!({"action": "explode"}).to_string().into()),
        Message::Text(
            json!({"action": "subscribe", "patterns": ["has space"]})
                .to_string()
                .into(),
        ),
        Message::Binary(vec![1, 2, 3].into()),
    ] {
        client.ws.send(bad).await.unwrap();
        let frame = client.json().await;
        assert_eq!(frame["type"], "error", "{frame}");
        assert!(frame["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let too_many: Vec<String> = (0..=events::MAX_PATTERNS)
        .map(|i| format!("p{i}.*"))
        .collect();
    client
        .send(json!({"action": "subscribe", "patterns": too_many}))
        .await;
    assert_eq!(client.json().await["type"], "error");

    // Still open and working.
    client.subscribe(&["task.*"]).await;
    let task = world.submit("acme", "still here").await;
    let frame = client.event("task.created").await;
    assert_eq!(frame["data"]["id"], task.id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings() {
    let world = World::new();
    let addr = start(&world, Duration::from_millis(50), 64).await;
    let mut client = Client::connect(addr, "acme").await;
    let mut pings = 0;
    while pings < 2 {
        match client.frame().await {
            Message::Ping(_) => pings += 1,
            other => panic!("expected a ping, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_principal_is_refused() {
    let world = World::new();
    let addr = start(&world, Duration::from_secs(30), 64).await;
    let refused = connect_async(format!("ws://{addr}/events")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
        }
        other => panic!("expected a 401, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_closed_as_a_slow_consumer_and_publishing_goes_on() {
    // A small bus and a 4-frame buffer: whichever fills first, the client is dropped.
    let world = World::with_bus(BroadcastBus::new(64));
    let addr = start(&world, Duration::from_secs(30), 4).await;
    let mut slow = Client::connect(addr, "acme").await;
    slow.subscribe(&["*"]).await;

    // 64 MiB of events, far more than socket buffers hold; publishing never waits.
    let chunk = "x".repeat(32 * 1024);
    for i in 0..2048 {
        alert(&world, format!("{i} {chunk}"));
    }

    // Others are served as usual.
    let mut other = Client::connect(addr, "acme").await;
    other.subscribe(&["task.*"]).await;
    let task = world.submit("acme", "after the flood").await;
    let frame = other.event("task.created").await;
    assert_eq!(frame["data"]["id"], task.id.to_string());

    // The slow client finds, after what was already on the wire, a close frame.
    let mut events = 0;
    let close = loop {
        match slow.frame().await {
            Message::Text(_) => events += 1,
            Message::Close(frame) => break frame.expect("a close frame with a code"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1008, "{close:?}");
    assert_eq!(close.reason.as_str(), events::SLOW_CONSUMER);
    assert!(events < 2048, "the slow client got every event ({events})");
}

#[tokio::test]
async fn a_shutting_down_server_closes_open_sockets_with_going_away() {
    let world = World::new();
    let (addr, state) = start_with_state(&world, Duration::from_secs(30), 64).await;
    let mut client = Client::connect(addr, "acme").await;
    client.subscribe(&["task.*"]).await;
    state.begin_shutdown();
    let close = loop {
        match client.frame().await {
            Message::Close(frame) => break frame.expect("a close frame with a code"),
            Message::Ping(_) | Message::Pong(_) | Message::Text(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1001, "{close:?}");
    assert_eq!(close.reason.as_str(), "server shutting down");
}
