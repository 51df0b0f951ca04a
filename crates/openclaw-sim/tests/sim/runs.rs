//! Runs: event order compared with the real captures, idempotency, tool events, aborts, failures,
//! `agent.wait` and the capacity knob.

use std::collections::BTreeSet;
use std::time::Duration;

use godel_openclaw_sim::{FailureKind, SimConfig, Simulator};
use serde_json::{Value, json};

use crate::support::{
    Client, capture, capture_first_run, capture_run_events, connect_params, connected,
    connected_with, eventually, is_chat_terminal, normalise, send_params, token,
};

/// Slow runs long enough to abort after their first delta.
fn slow_config() -> SimConfig {
    SimConfig::default()
        .with_slow_duration(Duration::from_secs(5))
        .with_deltas_per_run(10)
}

async fn start_run(client: &mut Client, key: &str, message: &str, run_id: &str) {
    let payload = client
        .ok("chat.send", send_params(key, message, run_id))
        .await;
    assert_eq!(payload, json!({"runId": run_id, "status": "started"}));
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_run_emits_the_event_sequence_of_the_real_gateway_ending_with_chat_final() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    start_run(&mut client, "agent:main:godel-1", "Say hello", "run-1").await;
    let events = client.run_events("run-1", is_chat_terminal).await;

    let real_run = capture_first_run("chat_send.jsonl");
    let real = capture_run_events("chat_send.jsonl", &real_run);
    assert_eq!(normalise(&events), normalise(&real));

    // The quirk: the last chat delta arrives after lifecycle end, with the end's seq.
    let tokens: Vec<String> = events.iter().map(token).collect();
    let end = tokens
        .iter()
        .position(|t| t == "agent:lifecycle:end")
        .unwrap();
    assert_eq!(tokens[end + 1], "chat:delta:");
    assert_eq!(tokens[end + 2], "chat:final:");
    let end_seq = &events[end]["payload"]["seq"];
    assert_eq!(&events[end + 1]["payload"]["seq"], end_seq);
    assert_eq!(&events[end + 2]["payload"]["seq"], end_seq);

    let last = events.last().unwrap();
    let text = "Hello from the simulator.";
    assert_eq!(last["payload"]["message"]["content"][0]["text"], text);
    assert_eq!(
        events[end]["payload"]["data"]["terminalReply"]["text"],
        text
    );
    let streamed: String = events
        .iter()
        .filter(|e| token(e) == "agent:assistant:")
        .map(|e| e["payload"]["data"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, text, "the deltas add up to the reply");
}

#[tokio::test]
async fn run_event_payloads_carry_the_same_keys_as_the_real_ones() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    start_run(&mut client, "agent:main:godel-1", "Say hello", "run-keys").await;
    let events = client.run_events("run-keys", is_chat_terminal).await;
    let real_run = capture_first_run("chat_send.jsonl");
    let real = capture_run_events("chat_send.jsonl", &real_run);
    for real_event in &real {
        let t = token(real_event);
        let ours = events
            .iter()
            .find(|e| token(e) == t)
            .unwrap_or_else(|| panic!("no {t} event"));
        assert_eq!(
            keys(&ours["payload"]),
            keys(&real_event["payload"]),
            "payload keys of {t}"
        );
        if real_event["event"] == "agent" {
            assert_eq!(
                keys(&ours["payload"]["data"]),
                keys(&real_event["payload"]["data"]),
                "data keys of {t}"
            );
        }
    }
}

#[tokio::test]
async fn a_tool_run_matches_the_real_tool_capture_and_tool_events_reach_only_the_starter() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut starter = connected(&gateway).await;
    let mut watcher = connected(&gateway).await; // has cap tool-events but did not start the run
    start_run(
        &mut starter,
        "agent:main:godel-tool",
        "TOOL: list the workspace",
        "run-tool",
    )
    .await;
    let seen_by_starter = starter.run_events("run-tool", is_chat_terminal).await;
    let seen_by_watcher = watcher.run_events("run-tool", is_chat_terminal).await;

    let real_run = capture_first_run("tool_run.jsonl");
    let real = capture_run_events("tool_run.jsonl", &real_run);
    assert_eq!(normalise(&seen_by_starter), normalise(&real));

    let tools = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["payload"]["stream"] == "tool")
            .count()
    };
    assert_eq!(
        tools(&seen_by_starter),
        2,
        "tool start and result go to the starter"
    );
    assert_eq!(
        tools(&seen_by_watcher),
        0,
        "other connections get no tool stream"
    );
    assert_eq!(
        seen_by_watcher.len(),
        seen_by_starter.len() - 2,
        "every reader sees every other event of the run"
    );
    let start = seen_by_starter
        .iter()
        .find(|e| e["payload"]["stream"] == "tool")
        .unwrap();
    assert_eq!(start["payload"]["data"]["phase"], "start");
    assert_eq!(start["payload"]["data"]["name"], "ls");
}

#[tokio::test]
async fn a_starter_without_cap_tool_events_gets_no_tool_stream() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut params = connect_params(None);
    params["caps"] = json!([]);
    let mut client = connected_with(&gateway.endpoint(), params).await;
    start_run(&mut client, "agent:main:t", "TOOL please", "run-nocap").await;
    let events = client.run_events("run-nocap", is_chat_terminal).await;
    assert!(events.iter().all(|e| e["payload"]["stream"] != "tool"));
    assert!(events.iter().any(|e| e["payload"]["stream"] == "item"));
}

#[tokio::test]
async fn the_same_idempotency_key_answers_in_flight_then_ok_and_never_starts_a_second_run() {
    let gateway = Simulator::start(slow_config().with_slow_duration(Duration::from_millis(1500)))
        .await
        .unwrap();
    let mut client = connected(&gateway).await;
    let params = send_params("agent:main:godel-idem", "SLOW hello", "idem-1");
    start_run(&mut client, "agent:main:godel-idem", "SLOW hello", "idem-1").await;
    let again = client.ok("chat.send", params.clone()).await;
    assert_eq!(again, json!({"runId": "idem-1", "status": "in_flight"}));
    client.run_events("idem-1", is_chat_terminal).await;
    let after = client.ok("chat.send", params).await;
    assert_eq!(after, json!({"runId": "idem-1", "status": "ok"}));
    assert_eq!(gateway.run_starts("idem-1"), 1);
    let stats = gateway.stats();
    assert_eq!(stats.runs_started, 1);
    assert_eq!(stats.max_run_starts(), 1);
}

#[tokio::test]
async fn chat_abort_emits_aborted_then_lifecycle_end_and_error_as_the_real_gateway() {
    let gateway = Simulator::start(slow_config()).await.unwrap();
    let mut client = connected(&gateway).await;
    let key = "agent:main:godel-abort";
    start_run(&mut client, key, "SLOW please", "run-abort").await;
    client
        .event(|e| e["event"] == "chat" && e["payload"]["state"] == "delta")
        .await;
    let id = client
        .request(
            "chat.abort",
            json!({"sessionKey": key, "runId": "run-abort"}),
        )
        .await;
    let res = client.response(&id).await;
    assert_eq!(
        res["payload"],
        json!({"ok": true, "aborted": true, "runIds": ["run-abort"]})
    );
    let before_res: Vec<String> = client
        .backlog()
        .filter(|e| e["payload"]["runId"] == "run-abort")
        .map(token)
        .collect();
    assert!(
        before_res.contains(&"agent:lifecycle:end".to_owned()),
        "the abort's events precede its res: {before_res:?}"
    );
    let events = client
        .run_events("run-abort", |e| token(e) == "agent:lifecycle:error")
        .await;

    let real_run = capture_first_run("abort_chat.jsonl");
    let real = capture_run_events("abort_chat.jsonl", &real_run);
    assert_eq!(normalise(&events), normalise(&real));
    let aborted = events.iter().find(|e| token(e) == "chat:aborted:").unwrap();
    assert_eq!(aborted["payload"]["stopReason"], "rpc");
    let end = events
        .iter()
        .find(|e| token(e) == "agent:lifecycle:end")
        .unwrap();
    assert_eq!(end["payload"]["data"]["status"], "cancelled");
    assert_eq!(end["payload"]["data"]["aborted"], true);

    let wait = client
        .ok(
            "agent.wait",
            json!({"runId": "run-abort", "timeoutMs": 5000}),
        )
        .await;
    assert_eq!(wait["status"], "error");
    let sessions = client.ok("sessions.list", json!({"limit": 10})).await;
    assert_eq!(sessions["sessions"][0]["status"], "killed");
    assert_eq!(sessions["sessions"][0]["abortedLastRun"], true);
}

#[tokio::test]
async fn sessions_abort_reports_the_aborted_run_then_no_active_run() {
    let gateway = Simulator::start(slow_config()).await.unwrap();
    let mut client = connected(&gateway).await;
    let key = "agent:main:godel-abort2";
    start_run(&mut client, key, "SLOW please", "run-sa").await;
    let aborted = client.ok("sessions.abort", json!({"key": key})).await;
    assert_eq!(
        aborted,
        json!({"ok": true, "abortedRunId": "run-sa", "status": "aborted"})
    );
    client
        .run_events("run-sa", |e| token(e) == "agent:lifecycle:error")
        .await;
    let again = client.ok("sessions.abort", json!({"key": key})).await;
    assert_eq!(
        again,
        json!({"ok": true, "abortedRunId": null, "status": "no-active-run"})
    );
}

#[tokio::test]
async fn a_second_send_to_a_busy_session_is_queued_and_aborting_the_session_finalises_it() {
    let gateway = Simulator::start(slow_config()).await.unwrap();
    let mut client = connected(&gateway).await;
    let key = "agent:main:godel-busy";
    start_run(&mut client, key, "SLOW one", "run-busy-1").await;
    start_run(&mut client, key, "Say hello (queued)", "run-busy-2").await;
    let listed = client
        .ok("sessions.list", json!({"limit": 5, "activeOnly": true}))
        .await;
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["sessions"][0]["hasActiveRun"], true);
    let abort = client.ok("chat.abort", json!({"sessionKey": key})).await;
    // As captured in busy.jsonl: the queued run is listed first.
    assert_eq!(
        abort,
        json!({"ok": true, "aborted": true, "runIds": ["run-busy-2", "run-busy-1"]})
    );
    let queued = client.run_events("run-busy-2", is_chat_terminal).await;
    assert_eq!(queued.len(), 1, "a queued run only gets its final");
    let real_queued = capture("busy.jsonl")
        .into_iter()
        .find(|(_, f)| {
            f["event"] == "chat" && f["payload"]["seq"] == 1 && f["payload"]["state"] == "final"
        })
        .map(|(_, f)| f)
        .unwrap();
    assert_eq!(keys(&queued[0]["payload"]), keys(&real_queued["payload"]));
    assert_eq!(queued[0]["payload"]["seq"], 1);
    assert_eq!(gateway.run_starts("run-busy-2"), 1);
}

#[tokio::test]
async fn a_queued_run_starts_when_the_active_one_ends() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    let key = "agent:main:lane";
    start_run(&mut client, key, "first", "lane-1").await;
    start_run(&mut client, key, "second", "lane-2").await;
    client.run_events("lane-1", is_chat_terminal).await;
    let second = client.run_events("lane-2", is_chat_terminal).await;
    assert_eq!(second.last().unwrap()["payload"]["state"], "final");
    let history = client.ok("chat.history", json!({"sessionKey": key})).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn http401_fails_at_once_with_chat_error_like_the_real_capture() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    start_run(
        &mut client,
        "agent:main:godel-h401",
        "please HTTP401",
        "run-401",
    )
    .await;
    let events = client
        .run_events("run-401", |e| token(e) == "chat:error::detached")
        .await;
    let real_run = capture_first_run("fail_401.jsonl");
    let real = capture_run_events("fail_401.jsonl", &real_run);
    assert_eq!(normalise(&events), normalise(&real));
    let error = events.iter().find(|e| token(e) == "chat:error:").unwrap();
    assert!(
        error["payload"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("HTTP 401")
    );
    assert_eq!(error["payload"]["errorDetail"]["failoverReason"], "auth");
    let detached = events.last().unwrap();
    assert_eq!(detached["payload"]["seq"], 1);
    assert!(detached["payload"].get("agentId").is_none());
}

#[tokio::test]
async fn fail_ends_with_a_provider_error_after_the_run_duration() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    start_run(&mut client, "agent:main:f", "FAIL now", "run-fail").await;
    let events = client.run_events("run-fail", is_chat_terminal).await;
    let last = events.last().unwrap();
    assert_eq!(last["payload"]["state"], "error");
    assert!(
        last["payload"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );
    let wait = client
        .ok(
            "agent.wait",
            json!({"runId": "run-fail", "timeoutMs": 5000}),
        )
        .await;
    assert_eq!(wait["status"], "error");
    assert!(wait["error"].as_str().unwrap().contains("HTTP 500"));
    let sessions = client.ok("sessions.list", json!({"limit": 10})).await;
    assert_eq!(sessions["sessions"][0]["status"], "failed");
    assert!(sessions["sessions"][0]["lastRunError"].is_string());
}

#[tokio::test]
async fn a_failure_rate_of_one_fails_every_run_with_the_configured_kind() {
    let gateway = Simulator::start(SimConfig::default().with_failure_rate(1.0, FailureKind::Auth))
        .await
        .unwrap();
    let mut client = connected(&gateway).await;
    start_run(&mut client, "agent:main:r", "hello", "rate-1").await;
    let events = client.run_events("rate-1", is_chat_terminal).await;
    assert_eq!(
        events.last().unwrap()["payload"]["errorDetail"]["failoverReason"],
        "auth"
    );
    gateway.set_failure_rate(0.0);
    start_run(&mut client, "agent:main:r2", "hello", "rate-2").await;
    let events = client.run_events("rate-2", is_chat_terminal).await;
    assert_eq!(events.last().unwrap()["payload"]["state"], "final");
}

#[tokio::test]
async fn agent_wait_reports_ok_with_the_terminal_reply_and_times_out_on_unknown_runs() {
    let gateway = Simulator::start(SimConfig::default().with_reply_text("The answer is 42."))
        .await
        .unwrap();
    let mut client = connected(&gateway).await;
    start_run(&mut client, "agent:main:w", "Say hello", "run-wait").await;
    let wait = client
        .ok(
            "agent.wait",
            json!({"runId": "run-wait", "timeoutMs": 10_000}),
        )
        .await;
    assert_eq!(wait["runId"], "run-wait");
    assert_eq!(wait["status"], "ok");
    assert!(wait["endedAt"].is_u64());
    assert_eq!(wait["terminalReply"]["text"], "The answer is 42.");
    let unknown = client
        .ok(
            "agent.wait",
            json!({"runId": "no-such-run", "timeoutMs": 50}),
        )
        .await;
    assert_eq!(
        unknown,
        json!({"runId": "no-such-run", "status": "timeout"})
    );
}

#[tokio::test]
async fn a_hanging_run_never_ends_until_it_is_aborted() {
    let gateway = Simulator::start(SimConfig::default()).await.unwrap();
    let mut client = connected(&gateway).await;
    start_run(&mut client, "agent:main:hang", "HANG forever", "run-hang").await;
    let wait = client
        .ok("agent.wait", json!({"runId": "run-hang", "timeoutMs": 300}))
        .await;
    assert_eq!(wait["status"], "timeout");
    assert_eq!(gateway.stats().runs_active, 1);
    let abort = client
        .ok("chat.abort", json!({"sessionKey": "agent:main:hang"}))
        .await;
    assert_eq!(abort["runIds"], json!(["run-hang"]));
    client.run_events("run-hang", is_chat_terminal).await;
    eventually("no active run", || gateway.stats().runs_active == 0).await;
}

#[tokio::test]
async fn beyond_the_agent_capacity_chat_send_is_refused_as_retryable_unavailable() {
    let gateway = Simulator::start(slow_config().with_agent_capacity(2))
        .await
        .unwrap();
    let mut client = connected(&gateway).await;
    start_run(&mut client, "agent:main:c1", "SLOW", "cap-1").await;
    start_run(&mut client, "agent:main:c2", "SLOW", "cap-2").await;
    let refused = client
        .call("chat.send", send_params("agent:main:c3", "SLOW", "cap-3"))
        .await;
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["error"]["code"], "UNAVAILABLE");
    assert_eq!(refused["error"]["retryable"], true);
    assert!(refused["error"]["retryAfterMs"].is_u64());
    assert_eq!(gateway.run_starts("cap-3"), 0);
    client
        .ok("chat.abort", json!({"sessionKey": "agent:main:c1"}))
        .await;
    start_run(&mut client, "agent:main:c3", "SLOW", "cap-3").await;
}

#[tokio::test]
async fn with_drop_rate_one_the_starting_connection_is_dropped_and_the_run_goes_on() {
    let gateway = Simulator::start(
        SimConfig::default()
            .with_drop_rate(1.0)
            .with_run_duration(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let mut observer = connected(&gateway).await;
    let mut starter = connected(&gateway).await;
    starter
        .ok("chat.send", send_params("agent:main:d", "hi", "run-drop"))
        .await;
    assert_eq!(
        starter.closed().await,
        None,
        "dropped without a close frame"
    );
    let events = observer.run_events("run-drop", is_chat_terminal).await;
    assert_eq!(events.last().unwrap()["payload"]["state"], "final");
}
