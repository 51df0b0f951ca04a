//! Every frame captured from the real gateway (`tests/data/*.jsonl`, copied from
//! `../shared/openclaw/captures/`) decodes, its payloads type, and each captured run
//! reconciles to the right single terminal event.

use std::collections::BTreeMap;

use godel_lifecycle::{RunEvent, RunFailure};
use godel_openclaw::protocol::reconcile::RunReconciler;
use godel_openclaw::protocol::{
    AgentWaitResult, ChatSendResult, Frame, GatewayEvent, HealthResult, HelloOk, SendStatus,
    SessionsListResult, WaitOutcome, decode,
};
use serde::Deserialize;
use serde_json::Value;

const REPLY: &str = "Hello from the fake model. The answer is 42.";

/// Every frame of every capture file, as text exactly as a socket would carry it.
fn captures() -> Vec<(String, Vec<String>)> {
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let frames = std::fs::read_to_string(&path)
                .expect("capture")
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("capture line"))
                .filter(|r| r["dir"] == "in" || r["dir"] == "out")
                .map(|r| r["frame"].to_string())
                .collect();
            (name, frames)
        })
        .collect()
}

fn capture(name: &str) -> Vec<String> {
    captures()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, frames)| frames)
        .unwrap_or_else(|| panic!("no capture {name}"))
}

/// The run events of a capture, reconciled per run id, in order.
fn reconcile(name: &str) -> BTreeMap<String, Vec<RunEvent>> {
    let mut runs: BTreeMap<String, (RunReconciler, Vec<RunEvent>)> = BTreeMap::new();
    for text in capture(name) {
        let Ok(Frame::Event(event)) = decode(&text) else {
            continue;
        };
        let event = GatewayEvent::from_event(event).expect("typed event");
        let Some(run) = event.run_id() else { continue };
        let (reconciler, events) = runs.entry(run.to_owned()).or_default();
        events.extend(reconciler.on_event(&event));
    }
    runs.into_iter()
        .map(|(run, (_, events))| (run, events))
        .collect()
}

fn only_run(name: &str) -> Vec<RunEvent> {
    let runs = reconcile(name);
    assert_eq!(runs.len(), 1, "{name}: {runs:?}");
    runs.into_values().next().unwrap_or_default()
}

fn terminals(events: &[RunEvent]) -> Vec<&RunEvent> {
    events.iter().filter(|e| e.is_terminal()).collect()
}

#[test]
fn every_captured_frame_decodes_and_types() {
    let mut count = 0;
    for (name, frames) in captures() {
        for text in frames {
            count += 1;
            match decode(&text) {
                Ok(Frame::Event(event)) => {
                    let typed = GatewayEvent::from_event(event);
                    assert!(typed.is_ok(), "{name}: {typed:?} for {text:.300}");
                }
                Ok(Frame::Response(response)) if response.id == "1" => {
                    if let Ok(payload) = response.outcome {
                        let hello = HelloOk::deserialize(&payload);
                        assert!(hello.is_ok(), "{name}: {hello:?}");
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("{name}: {e} for {text:.300}"),
            }
        }
    }
    assert!(count > 250, "only {count} frames");
}

#[test]
fn the_captured_hello_gives_policy_and_server() {
    let hello = capture("hello_nodevice_backend")
        .iter()
        .find_map(|t| match decode(t) {
            Ok(Frame::Response(r)) if r.id == "1" => r.outcome.ok(),
            _ => None,
        })
        .map(|p| HelloOk::deserialize(&p).expect("hello-ok"))
        .expect("hello in the capture");
    assert_eq!(hello.protocol, 4);
    assert_eq!(hello.server.version, "2026.9.6");
    assert!(hello.server.conn_id.is_some());
    assert!(hello.policy.tick_interval_ms.is_some());
    assert!(hello.policy.max_payload.is_some());
    assert!(hello.features.methods.iter().any(|m| m == "chat.send"));
    assert!(hello.features.events.iter().any(|e| e == "tick"));
}

#[test]
fn captured_results_type() {
    let results: Vec<(String, Value)> = captures()
        .into_iter()
        .flat_map(|(_, frames)| {
            let decoded: Vec<Frame> = frames.iter().filter_map(|t| decode(t).ok()).collect();
            let methods: BTreeMap<String, String> = decoded
                .iter()
                .filter_map(|f| match f {
                    Frame::Request(r) => Some((r.id.clone(), r.method.clone())),
                    _ => None,
                })
                .collect();
            decoded
                .into_iter()
                .filter_map(move |f| match f {
                    Frame::Response(r) => Some((methods.get(&r.id)?.clone(), r.outcome.ok()?)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut seen = BTreeMap::new();
    for (method, payload) in results {
        let ok = match method.as_str() {
            "health" => HealthResult::deserialize(&payload).is_ok_and(|h| h.ok),
            "sessions.list" => SessionsListResult::deserialize(&payload).is_ok(),
            "agent.wait" => AgentWaitResult::deserialize(&payload).is_ok_and(|w| {
                w.outcome()
                    == WaitOutcome::Completed {
                        reply: Some(REPLY.into()),
                    }
            }),
            "chat.send" => {
                ChatSendResult::deserialize(&payload).is_ok_and(|s| s.status != SendStatus::Other)
            }
            _ => true,
        };
        assert!(ok, "{method}: {payload:.300}");
        *seen.entry(method).or_insert(0) += 1;
    }
    for method in ["health", "sessions.list", "agent.wait", "chat.send"] {
        assert!(
            seen.contains_key(method),
            "no {method} result in the captures"
        );
    }
}

#[test]
fn chat_send_completes_with_the_full_reply() {
    let events = only_run("chat_send");
    assert_eq!(
        events.first(),
        Some(&RunEvent::Status {
            phase: "preparing_workspace".into()
        })
    );
    assert_eq!(
        events.iter().filter(|e| **e == RunEvent::Started).count(),
        1
    );
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, REPLY);
    assert_eq!(
        terminals(&events),
        vec![&RunEvent::Completed {
            reply: Some(REPLY.into())
        }]
    );
    assert!(events.last().is_some_and(RunEvent::is_terminal));
}

#[test]
fn tool_run_reports_the_tool_and_completes() {
    let events = only_run("tool_run");
    let tools: Vec<_> = events
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
    assert_eq!(
        terminals(&events),
        vec![&RunEvent::Completed {
            reply: Some(REPLY.into())
        }]
    );
}

#[test]
fn abort_chat_is_one_abort() {
    let events = only_run("abort_chat");
    assert_eq!(terminals(&events), vec![&RunEvent::Aborted]);
    assert_eq!(events.last(), Some(&RunEvent::Aborted));
}

#[test]
fn abort_sessions_is_one_abort() {
    let events = only_run("abort_sessions");
    assert_eq!(terminals(&events), vec![&RunEvent::Aborted]);
    assert_eq!(events.last(), Some(&RunEvent::Aborted));
}

#[test]
fn fail_401_is_one_permanent_failure() {
    let events = only_run("fail_401");
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
        other => panic!("{other:?}"),
    }
}

#[test]
fn busy_aborts_the_running_run_and_ends_the_queued_one() {
    let runs = reconcile("busy");
    assert_eq!(runs.len(), 2);
    let running = &runs["7868d561-f750-470c-a440-abe6c9b8f180"];
    assert_eq!(terminals(running), vec![&RunEvent::Aborted]);
    // The queued run was folded into the running one and ends with a bare `final`.
    let queued = &runs["4438fcd2-bc25-47aa-afdf-f431341885d5"];
    assert_eq!(queued, &vec![RunEvent::Completed { reply: None }]);
}
