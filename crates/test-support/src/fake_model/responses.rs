//! `POST /v1/responses`: a minimal Responses API answering text (the reply, or a slow reply),
//! streamed as `response.*` events or in one `response` object.

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::prompt::Behaviour;
use super::sse::{self, Frame};
use super::{MODEL_ID, Shared, pieces, unix_now};

/// Answers a Responses API request; `Tool` is answered with text (tools are not simulated here).
pub(super) fn answer(shared: &Arc<Shared>, body: &Value, behaviour: Behaviour) -> Response {
    let n = shared.next_id();
    let response_id = format!("resp_fake{n}");
    let item_id = format!("msg_fake{n}");
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(MODEL_ID);
    let slow = behaviour == Behaviour::Slow;
    let pieces = pieces(&shared.config, slow);
    let full = pieces.concat();
    let item = json!({
        "type": "message", "id": item_id, "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": full, "annotations": []}],
    });
    let done = json!({
        "id": response_id, "object": "response", "created_at": unix_now(), "status": "completed",
        "model": model, "output": [item],
        "usage": {"input_tokens": 10, "output_tokens": pieces.len(),
                  "total_tokens": 10 + pieces.len()},
    });
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        return axum::Json(done).into_response();
    }
    let pause = if slow {
        shared.config.slow_interval
    } else {
        Duration::ZERO
    };
    let mut in_progress = done.clone();
    in_progress["status"] = json!("in_progress");
    in_progress["output"] = json!([]);
    let mut added = item.clone();
    added["status"] = json!("in_progress");
    added["content"] = json!([]);
    let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": []});
    let at = |extra: Value| {
        let mut v = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    };
    let event = |kind: &str, mut data: Value, pause: Duration| {
        data["type"] = json!(kind);
        Frame::json(&data, Some(kind), pause)
    };
    let mut frames = vec![
        event(
            "response.created",
            json!({"response": in_progress}),
            Duration::ZERO,
        ),
        event(
            "response.output_item.added",
            json!({"output_index": 0, "item": added}),
            Duration::ZERO,
        ),
        event(
            "response.content_part.added",
            at(json!({"part": part("")})),
            Duration::ZERO,
        ),
    ];
    frames.extend(
        pieces
            .iter()
            .map(|p| event("response.output_text.delta", at(json!({"delta": p})), pause)),
    );
    frames.extend([
        event(
            "response.output_text.done",
            at(json!({"text": full})),
            Duration::ZERO,
        ),
        event(
            "response.content_part.done",
            at(json!({"part": part(&full)})),
            Duration::ZERO,
        ),
        event(
            "response.output_item.done",
            json!({"output_index": 0, "item": item}),
            Duration::ZERO,
        ),
        event(
            "response.completed",
            json!({"response": done}),
            Duration::ZERO,
        ),
    ]);
    sse::response(shared, frames)
}
