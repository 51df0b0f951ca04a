//! Malformed and hostile frames are errors, never panics: truncations of every captured
//! frame, wrong types, huge ids, unknown types, deep nesting, and seeded random mutations.

use godel_openclaw::protocol::{Frame, GatewayEvent, decode};
use serde_json::{Value, json};

fn captured_frames() -> Vec<String> {
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut frames = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("tests/data")
        .filter_map(Result::ok)
    {
        if entry.path().extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("capture");
        for line in text.lines() {
            let record: Value = serde_json::from_str(line).expect("capture line");
            if record["dir"] == "in" || record["dir"] == "out" {
                frames.push(record["frame"].to_string());
            }
        }
    }
    frames
}

/// Decodes and, for events, types the payload: nothing may panic.
fn survive(text: &str) -> bool {
    match decode(text) {
        Ok(Frame::Event(event)) => {
            let _ = GatewayEvent::from_event(event);
            true
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

#[test]
fn every_truncation_of_every_captured_frame_is_an_error() {
    for frame in captured_frames() {
        let cuts: Vec<usize> = [1, 2, 7, frame.len() / 3, frame.len() / 2, frame.len() - 1]
            .into_iter()
            .filter(|c| *c < frame.len() && frame.is_char_boundary(*c))
            .collect();
        for cut in cuts {
            assert!(
                decode(&frame[..cut]).is_err(),
                "accepted a truncation at {cut}: {:.200}",
                &frame[..cut]
            );
        }
    }
}

#[test]
fn wrong_types_unknown_types_and_huge_ids_are_errors() {
    let huge = "1".repeat(1 << 20);
    for frame in [
        json!({"type": "res", "id": huge, "ok": true}),
        json!({"type": "res", "id": 1e300, "ok": true}),
        json!({"type": "res", "id": 18_446_744_073_709_551_615_u64, "ok": true}),
        json!({"type": "res", "id": null, "ok": true}),
        json!({"type": "res", "id": ["1"], "ok": true}),
        json!({"type": "res", "id": "1", "ok": 1}),
        json!({"type": "res", "id": "1", "ok": false, "error": "boom"}),
        json!({"type": "res", "id": "1", "ok": false, "error": {"code": 5, "message": "m"}}),
        json!({"type": "event", "event": 7, "payload": {}}),
        json!({"type": "event", "event": "tick", "seq": "2"}),
        json!({"type": "event", "event": "tick", "seq": 1e30}),
        json!({"type": "event", "event": huge, "payload": {}}),
        json!({"type": "req", "id": "1", "method": "m", "params": "x"}),
        json!({"type": "hello", "id": "1"}),
        json!({"type": "", "id": "1"}),
        json!({"type": null}),
        json!({"type": ["res"]}),
        json!({"type": "res", "id": "1", "ok": true, "__proto__": {}}),
        json!(null),
        json!(42),
        json!("frame"),
        json!([{"type": "res", "id": "1", "ok": true}]),
    ] {
        assert!(
            decode(&frame.to_string()).is_err(),
            "accepted {:.200}",
            frame.to_string()
        );
    }
    for text in [
        "",
        " ",
        "{",
        "}",
        "nul",
        "\u{feff}{}",
        "{\"type\":\"res\",\"id\":\"1\",\"ok\":true}}",
    ] {
        assert!(decode(text).is_err(), "accepted {text:?}");
    }
}

#[test]
fn deep_nesting_is_an_error() {
    for depth in [200, 100_000] {
        let text = format!(
            r#"{{"type":"event","event":"agent","payload":{}{}}}"#,
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        assert!(decode(&text).is_err(), "depth {depth}");
    }
}

#[test]
fn hostile_payloads_of_valid_frames_do_not_panic() {
    for payload in [
        json!(null),
        json!([]),
        json!({"runId": "r", "stream": "lifecycle", "data": null}),
        json!({"runId": "r", "stream": "lifecycle", "data": {"phase": 5}}),
        json!({"runId": "r", "stream": "assistant", "data": {"delta": {"x": 1}}}),
        json!({"runId": "r", "stream": "tool", "data": {"phase": "start"}}),
        json!({"runId": "r", "state": "final", "message": {"content": 5}}),
        json!({"runId": "r", "state": "final", "message": {"content": [1, null, {"type": "text"}]}}),
        json!({"runId": "r", "state": "error", "errorDetail": "x"}),
        json!({"runId": "r", "seq": -1, "state": "delta"}),
    ] {
        for event in ["agent", "chat", "tick", "shutdown", "connect.challenge"] {
            let frame = json!({"type": "event", "event": event, "payload": payload});
            assert!(survive(&frame.to_string()));
        }
    }
}

/// Seeded random byte mutations of captured frames: decoding must never panic (most fail).
#[test]
fn random_mutations_never_panic() {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let frames = captured_frames();
    let mut decoded = 0;
    for round in 0..4000 {
        let frame = &frames[round % frames.len()];
        let mut bytes = frame.as_bytes().to_vec();
        for _ in 0..=(next() % 4) {
            let at = usize::try_from(next() % bytes.len() as u64).unwrap_or(0);
            let byte = u8::try_from(next() % 128).unwrap_or(b'x');
            match next() % 3 {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if survive(&text) {
            decoded += 1;
        }
    }
    // Some mutations only touch string contents and still decode; that is fine.
    assert!(decoded < 4000);
}
