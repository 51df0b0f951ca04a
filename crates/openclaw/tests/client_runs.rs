//! Runs through the client against a scripted gateway replaying captured frames: completion,
//! tools, aborts, provider errors, re-sends, waits, sessions, and 50 runs on one connection.

mod client_support;

use std::time::Duration;

use client_support::{
    Conn, Server, captured_result, collect, config, noise, run_events, target, terminals, text,
};
use godel_lifecycle::{
    Gateway, GatewayError, GatewaySessionInfo, RunEvent, RunFailure, RunHandle, RunId, RunRequest,
    RunWait, SessionKey,
};
use godel_openclaw::OpenClawGateway;
use serde_json::json;

const REPLY: &str = "Hello from the fake model. The answer is 42.";

fn request(session: &str, run: &str) -> RunRequest {
    RunRequest {
        session: SessionKey::new(session),
        agent: "main".into(),
        message: "Say hello".into(),
        run: RunId::new(run),
        timeout: Some(Duration::from_secs(120)),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    }
}

async fn connected() -> (Server, OpenClawGateway, Conn) {
    let mut server = Server::start().await;
    let gateway = OpenClawGateway::connect(&target(&server.endpoint), config()).expect("client");
    let conn = server.handshaken(30_000).await;
    (server, gateway, conn)
}

/// Starts `run` and answers its `chat.send` with `status`; returns the handle and the request.
async fn start(
    gateway: &std::sync::Arc<OpenClawGateway>,
    conn: &mut Conn,
    session: &str,
    run: &str,
    status: &str,
) -> (RunHandle, serde_json::Value) {
    let client = gateway.clone();
    let request = request(session, run);
    let started = tokio::spawn(async move { client.start_run(request).await });
    let send = conn.expect("chat.send").await;
    conn.reply_ok(&send, json!({"runId": run, "status": status}))
        .await;
    let handle = started.await.expect("task").expect("run started");
    (handle, send)
}

#[tokio::test]
async fn a_run_streams_to_completion() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let run = "godel-run-1";
    let (mut handle, send) = start(&gateway, &mut conn, "agent:main:godel-1", run, "started").await;
    assert_eq!(
        send["params"],
        json!({"sessionKey": "agent:main:godel-1", "message": "Say hello", "idempotencyKey": run,
               "agentId": "main", "timeoutMs": 120_000})
    );
    assert_eq!(
        send["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert!(!handle.resumed);
    assert_eq!(handle.run, RunId::new(run));
    // Events of other runs and other events interleave with the run's.
    for frame in run_events("abort_chat", "somebody-elses-run") {
        conn.send(frame).await;
    }
    for frame in noise("chat_send") {
        conn.send(frame).await;
    }
    for frame in run_events("chat_send", run) {
        conn.send(frame).await;
    }
    let events = collect(&mut handle.events).await;
    assert_eq!(
        events.first(),
        Some(&RunEvent::Status {
            phase: "preparing_workspace".into()
        })
    );
    assert!(events.contains(&RunEvent::Started));
    assert_eq!(text(&events), REPLY);
    assert_eq!(
        events.last(),
        Some(&RunEvent::Completed {
            reply: Some(REPLY.into())
        })
    );
    assert_eq!(terminals(&events).len(), 1);
    gateway.close().await;
}

#[tokio::test]
async fn a_tool_run_reports_its_tools() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let (mut handle, _) = start(
        &gateway,
        &mut conn,
        "agent:main:godel-tool",
        "tool-run",
        "started",
    )
    .await;
    for frame in run_events("tool_run", "tool-run") {
        conn.send(frame).await;
    }
    let events = collect(&mut handle.events).await;
    let tools: Vec<&RunEvent> = events
        .iter()
        .filter(|e| matches!(e, RunEvent::Tool { .. }))
        .collect();
    assert_eq!(
        tools,
        vec![
            &RunEvent::Tool {
                name: "ls".into(),
                phase: "start".into()
            },
            &RunEvent::Tool {
                name: "ls".into(),
                phase: "result".into()
            },
        ]
    );
    assert!(matches!(events.last(), Some(RunEvent::Completed { reply: Some(r) }) if r == REPLY));
    gateway.close().await;
}

#[tokio::test]
async fn an_aborted_run_ends_aborted_exactly_once() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let run = "run-to-abort";
    let key = "agent:main:godel-abort";
    let (mut handle, _) = start(&gateway, &mut conn, key, run, "started").await;
    let frames = run_events("abort_chat", run);
    let (before, after): (Vec<_>, Vec<_>) = frames.into_iter().partition(|f| {
        f["payload"]["state"] != "aborted"
            && f["payload"]["data"]["phase"] != "end"
            && f["payload"]["data"]["phase"] != "error"
    });
    for frame in before.iter().take(8) {
        conn.send(frame.clone()).await;
    }
    let client = gateway.clone();
    let abort = tokio::spawn(async move {
        client
            .abort(&SessionKey::new(key), Some(&RunId::new(run)))
            .await
    });
    let req = conn.expect("chat.abort").await;
    assert_eq!(req["params"], json!({"sessionKey": key, "runId": run}));
    for frame in &after {
        conn.send(frame.clone()).await;
    }
    conn.reply_ok(&req, json!({"ok": true, "aborted": true, "runIds": [run]}))
        .await;
    for frame in before.iter().skip(8) {
        conn.send(frame.clone()).await;
    }
    assert_eq!(abort.await.expect("task"), Ok(true));
    let events = collect(&mut handle.events).await;
    assert_eq!(terminals(&events), vec![&RunEvent::Aborted]);
    assert_eq!(events.last(), Some(&RunEvent::Aborted));
    gateway.close().await;
}

#[tokio::test]
async fn aborting_a_whole_session_uses_sessions_abort() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let key = SessionKey::new("agent:main:godel-abort2");
    let client = gateway.clone();
    let k = key.clone();
    let abort =
        tokio::spawn(async move { (client.abort(&k, None).await, client.abort(&k, None).await) });
    let req = conn.expect("sessions.abort").await;
    assert_eq!(
        req["params"],
        json!({"key": key.as_str(), "clearQueued": true})
    );
    conn.reply_ok(&req, captured_result("abort_sessions", "sessions.abort"))
        .await;
    let req = conn.expect("sessions.abort").await;
    conn.reply_ok(
        &req,
        json!({"ok": true, "abortedRunId": null, "status": "no-active-run"}),
    )
    .await;
    assert_eq!(abort.await.expect("task"), (Ok(true), Ok(false)));
    gateway.close().await;
}

#[tokio::test]
async fn a_provider_error_fails_the_run_exactly_once() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let (mut handle, _) = start(
        &gateway,
        &mut conn,
        "agent:main:godel-h401",
        "failing-run",
        "started",
    )
    .await;
    let frames = run_events("fail_401", "failing-run");
    // The capture ends with the late duplicate error (seq 1, no agent).
    assert_eq!(frames.last().map(|f| &f["payload"]["seq"]), Some(&json!(1)));
    for frame in frames {
        conn.send(frame).await;
    }
    let events = collect(&mut handle.events).await;
    match terminals(&events).as_slice() {
        [
            RunEvent::Failed(RunFailure {
                message,
                kind,
                retryable,
            }),
        ] => {
            assert!(message.contains("HTTP 401"), "{message}");
            assert_eq!(kind.as_deref(), Some("auth"));
            assert!(!retryable);
        }
        other => panic!("expected one failure, got {other:?}"),
    }
    gateway.close().await;
}

#[tokio::test]
async fn a_resent_run_in_flight_is_resumed() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let (mut handle, _) = start(
        &gateway,
        &mut conn,
        "agent:main:godel-idem",
        "idem-run",
        "in_flight",
    )
    .await;
    assert!(handle.resumed);
    for frame in run_events("chat_send", "idem-run").into_iter().skip(10) {
        conn.send(frame).await;
    }
    let events = collect(&mut handle.events).await;
    assert!(matches!(events.last(), Some(RunEvent::Completed { reply: Some(r) }) if r == REPLY));
    gateway.close().await;
}

#[tokio::test]
async fn a_resent_run_that_already_ended_is_confirmed_with_agent_wait() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let (mut handle, _) = start(
        &gateway,
        &mut conn,
        "agent:main:godel-idem",
        "done-run",
        "ok",
    )
    .await;
    assert!(handle.resumed);
    let wait = conn.expect("agent.wait").await;
    assert_eq!(wait["params"]["runId"], "done-run");
    assert_eq!(wait["params"]["timeoutMs"], 200);
    let mut answer = captured_result("chat_send", "agent.wait");
    answer["runId"] = json!("done-run");
    conn.reply_ok(&wait, answer).await;
    let events = collect(&mut handle.events).await;
    assert_eq!(
        events,
        vec![RunEvent::Completed {
            reply: Some(REPLY.into())
        }]
    );
    gateway.close().await;
}

#[tokio::test]
async fn a_resent_run_that_was_aborted_is_confirmed_as_aborted() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let client = gateway.clone();
    let started = tokio::spawn(async move {
        client
            .start_run(request("agent:main:godel-abort", "aborted-run"))
            .await
    });
    let send = conn.expect("chat.send").await;
    // Both answers observed on openclaw 2026.9.6 for a run aborted by chat.abort.
    conn.reply_ok(
        &send,
        json!({"runId": "aborted-run", "status": "timeout", "summary": "aborted",
        "stopReason": "rpc", "endedAt": 1_795_251_103_975_u64}),
    )
    .await;
    let mut handle = started.await.expect("task").expect("the run is resumed");
    assert!(handle.resumed);
    let wait = conn.expect("agent.wait").await;
    assert_eq!(wait["params"]["runId"], "aborted-run");
    conn.reply_ok(
        &wait,
        json!({"runId": "aborted-run", "status": "error", "endedAt": 1_795_251_103_975_u64,
        "error": "aborted", "stopReason": "rpc"}),
    )
    .await;
    assert_eq!(collect(&mut handle.events).await, vec![RunEvent::Aborted]);
    gateway.close().await;
}

#[tokio::test]
async fn a_resent_run_that_failed_is_resumed_with_its_failure() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let client = gateway.clone();
    let started = tokio::spawn(async move {
        client
            .start_run(request("agent:main:godel-h401", "failed-run"))
            .await
    });
    let send = conn.expect("chat.send").await;
    // Observed on openclaw 2026.9.6: re-sending the key of a failed run is refused with the
    // run's end as payload.
    let summary = "⚠️ Agent failed before reply: ⚠️ fake/fake-model request failed (authentication failed, HTTP 401).";
    conn.send(json!({"type": "res", "id": send["id"], "ok": false,
        "payload": {"runId": "failed-run", "status": "error", "summary": summary},
        "error": {"code": "UNAVAILABLE", "message": summary}}))
        .await;
    let mut handle = started.await.expect("task").expect("the run is resumed");
    assert!(handle.resumed);
    let events = collect(&mut handle.events).await;
    assert!(
        matches!(events.as_slice(), [RunEvent::Failed(f)] if f.message == summary),
        "{events:?}"
    );
    // Without a payload the same error is just an error.
    let client = gateway.clone();
    let started = tokio::spawn(async move {
        client
            .start_run(request("agent:main:godel-h401", "other-run"))
            .await
    });
    let send = conn.expect("chat.send").await;
    conn.reply_err(
        &send,
        json!({"code": "UNAVAILABLE", "message": "busy", "retryAfterMs": 100}),
    )
    .await;
    let refused = started.await.expect("task");
    assert!(
        matches!(refused, Err(GatewayError::Unavailable { .. })),
        "{refused:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn a_refused_run_fails_to_start_and_is_not_followed() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let client = gateway.clone();
    let started =
        tokio::spawn(async move { client.start_run(request("agent:main:x", "refused")).await });
    let send = conn.expect("chat.send").await;
    conn.reply_err(
        &send,
        json!({"code": "FORBIDDEN", "message": "missing scope: operator.write",
               "details": {"code": "MISSING_SCOPE", "missingScope": "operator.write"}}),
    )
    .await;
    let refused = started.await.expect("task");
    assert!(
        matches!(&refused, Err(GatewayError::Rejected { code, retryable: false, .. }) if code == "FORBIDDEN"),
        "{refused:?}"
    );
    gateway.close().await;
}

#[tokio::test]
async fn wait_maps_agent_wait_answers() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let client = gateway.clone();
    let waits = tokio::spawn(async move {
        let run = RunId::new("r");
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(client.wait(&run, Duration::from_millis(1500)).await);
        }
        answers
    });
    let req = conn.expect("agent.wait").await;
    assert_eq!(req["params"], json!({"runId": "r", "timeoutMs": 1500}));
    conn.reply_ok(&req, captured_result("chat_send", "agent.wait"))
        .await;
    let req = conn.expect("agent.wait").await;
    conn.reply_ok(&req, json!({"runId": "r", "status": "timeout"}))
        .await;
    let req = conn.expect("agent.wait").await;
    conn.reply_ok(
        &req,
        json!({"runId": "r", "status": "error", "error": "provider failed"}),
    )
    .await;
    let req = conn.expect("agent.wait").await;
    conn.reply_err(
        &req,
        json!({"code": "INVALID_REQUEST", "message": "unknown run: r"}),
    )
    .await;
    let answers = waits.await.expect("task");
    assert_eq!(
        answers[0],
        Ok(RunWait::Completed {
            reply: Some(REPLY.into())
        })
    );
    assert_eq!(answers[1], Ok(RunWait::Running));
    assert!(matches!(&answers[2], Ok(RunWait::Failed(f)) if f.message == "provider failed"));
    assert!(
        matches!(&answers[3], Err(GatewayError::NotFound(_))),
        "{:?}",
        answers[3]
    );
    gateway.close().await;
}

#[tokio::test]
async fn sessions_are_listed_ensured_and_closed() {
    let (_server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let client = gateway.clone();
    let calls = tokio::spawn(async move {
        let listed = client.list_sessions(10).await;
        let existing = client
            .ensure_session(&SessionKey::new("agent:main:godel-3"), "main")
            .await;
        let fresh = client
            .ensure_session(&SessionKey::new("agent:main:godel-new"), "main")
            .await;
        let foreign = client
            .ensure_session(&SessionKey::new("agent:ops:godel-new"), "main")
            .await;
        let closed = client
            .close_session(&SessionKey::new("agent:main:godel-3"))
            .await;
        let gone = client
            .close_session(&SessionKey::new("agent:main:godel-3"))
            .await;
        (listed, existing, fresh, foreign, closed, gone)
    });
    let sessions = captured_result("abort_chat", "sessions.list");
    let req = conn.expect("sessions.list").await;
    assert_eq!(req["params"], json!({"limit": 10}));
    conn.reply_ok(&req, sessions.clone()).await;
    let req = conn.expect("sessions.list").await;
    assert_eq!(req["params"], json!({"limit": 200}));
    conn.reply_ok(&req, sessions.clone()).await;
    // The new key is on no page: the first one says there are more, the second is the last.
    let req = conn.expect("sessions.list").await;
    let mut first_page = sessions.clone();
    first_page["hasMore"] = json!(true);
    first_page["nextOffset"] = json!(5);
    conn.reply_ok(&req, first_page).await;
    let req = conn.expect("sessions.list").await;
    assert_eq!(req["params"], json!({"limit": 200, "offset": 5}));
    conn.reply_ok(&req, json!({"sessions": [], "hasMore": false}))
        .await;
    let req = conn.expect("sessions.delete").await;
    assert_eq!(
        req["params"],
        json!({"key": "agent:main:godel-3", "deleteTranscript": true})
    );
    conn.reply_ok(
        &req,
        json!({"ok": true, "key": "agent:main:godel-3", "deleted": true}),
    )
    .await;
    let req = conn.expect("sessions.delete").await;
    conn.reply_err(
        &req,
        json!({"code": "NOT_FOUND", "message": "session not found"}),
    )
    .await;
    let (listed, existing, fresh, foreign, closed, gone) = calls.await.expect("task");
    let listed = listed.expect("listed");
    assert_eq!(listed.len(), 5);
    assert_eq!(
        listed.first(),
        Some(&GatewaySessionInfo {
            key: SessionKey::new("agent:main:godel-abort"),
            agent: "main".into(),
            active: false,
        })
    );
    let existing = existing.expect("existing");
    assert!(!existing.created);
    assert_eq!(
        existing.gateway_id.as_deref(),
        Some("9e1f5a64-59d0-4bab-8d3e-bf8b29d939c1")
    );
    let fresh = fresh.expect("fresh");
    assert!(fresh.created);
    assert_eq!(fresh.gateway_id, None);
    assert!(
        matches!(foreign, Err(GatewayError::Rejected { .. })),
        "{foreign:?}"
    );
    assert_eq!(closed, Ok(()));
    assert_eq!(gone, Ok(()));
    gateway.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_runs_share_one_connection() {
    let (mut server, gateway, mut conn) = connected().await;
    let gateway = std::sync::Arc::new(gateway);
    let runs: Vec<String> = (0..50).map(|i| format!("concurrent-{i:02}")).collect();
    let mut starts = Vec::new();
    for run in &runs {
        let client = gateway.clone();
        let request = request(&format!("agent:main:godel-{run}"), run);
        starts.push(tokio::spawn(async move {
            let mut handle = client.start_run(request).await.expect("run started");
            collect(&mut handle.events).await
        }));
    }
    let mut sends = Vec::new();
    for _ in 0..50 {
        sends.push(conn.expect("chat.send").await);
    }
    // Answers in reverse order, then every run's events interleaved round-robin.
    for send in sends.iter().rev() {
        let run = send["params"]["idempotencyKey"].clone();
        conn.reply_ok(send, json!({"runId": run, "status": "started"}))
            .await;
    }
    let scripts: Vec<Vec<serde_json::Value>> = runs
        .iter()
        .map(|run| run_events("chat_send", run))
        .collect();
    let longest = scripts.iter().map(Vec::len).max().unwrap_or(0);
    for step in 0..longest {
        for script in &scripts {
            if let Some(frame) = script.get(step) {
                conn.send(frame.clone()).await;
            }
        }
    }
    for started in starts {
        let events = started.await.expect("task");
        assert_eq!(text(&events), REPLY);
        assert_eq!(
            terminals(&events),
            vec![&RunEvent::Completed {
                reply: Some(REPLY.into())
            }]
        );
    }
    assert!(
        server
            .connects_within(Duration::from_millis(50))
            .await
            .is_none(),
        "one connection for all runs"
    );
    gateway.close().await;
}
