//! `POST /v1/chat/completions`: the fixed reply, a slow reply, or a call of the `ls` tool,
//! streamed as `chat.completion.chunk` events or answered in one `chat.completion`.

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::prompt::Behaviour;
use super::sse::{self, Frame};
use super::{MODEL_ID, Shared, pieces, unix_now};

/// Answers a chat completion request (`behaviour` is never a status: those are answered first).
pub(super) fn answer(shared: &Arc<Shared>, body: &Value, behaviour: Behaviour) -> Response {
    let ids = Ids {
        completion: format!("chatcmpl-fake-{}", shared.next_id()),
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(MODEL_ID)
            .to_owned(),
        created: unix_now(),
    };
    let streamed = body.get("stream").and_then(Value::as_bool) == Some(true);
    let with_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let tool_call_id = format!("call_fake{}", shared.next_id());
    match (behaviour, streamed) {
        (Behaviour::Tool, true) => sse::response(shared, tool_frames(&ids, &tool_call_id)),
        (Behaviour::Tool, false) => axum::Json(ids.completion(
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": tool_call_id, "type": "function",
                "function": {"name": "ls", "arguments": LS_ARGS},
            }]}),
            "tool_calls",
            usage(5),
        ))
        .into_response(),
        (behaviour, streamed) => {
            let slow = behaviour == Behaviour::Slow;
            let pieces = pieces(&shared.config, slow);
            if streamed {
                let pause = if slow {
                    shared.config.slow_interval
                } else {
                    Duration::ZERO
                };
                sse::response(shared, text_frames(&ids, &pieces, pause, with_usage))
            } else {
                axum::Json(ids.completion(
                    json!({"role": "assistant", "content": pieces.concat()}),
                    "stop",
                    usage(pieces.len()),
                ))
                .into_response()
            }
        }
    }
}

/// The arguments of the tool call: list the workspace folder.
const LS_ARGS: &str = r#"{"path": "."}"#;

/// What every chunk of one completion repeats.
struct Ids {
    completion: String,
    model: String,
    created: u64,
}

impl Ids {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.completion, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    fn usage_chunk(&self, usage: Value) -> Value {
        json!({
            "id": self.completion, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [], "usage": usage,
        })
    }

    fn completion(&self, message: Value, finish: &str, usage: Value) -> Value {
        json!({
            "id": self.completion, "object": "chat.completion", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        })
    }
}

fn usage(completion_tokens: usize) -> Value {
    json!({
        "prompt_tokens": 10,
        "completion_tokens": completion_tokens,
        "total_tokens": 10 + completion_tokens,
    })
}

fn text_frames(ids: &Ids, pieces: &[String], pause: Duration, with_usage: bool) -> Vec<Frame> {
    let mut frames = vec![Frame::json(
        &ids.chunk(json!({"role": "assistant", "content": ""}), None),
        None,
        Duration::ZERO,
    )];
    frames.extend(
        pieces
            .iter()
            .map(|p| Frame::json(&ids.chunk(json!({"content": p}), None), None, pause)),
    );
    frames.push(Frame::json(
        &ids.chunk(json!({}), Some("stop")),
        None,
        Duration::ZERO,
    ));
    if with_usage {
        frames.push(Frame::json(
            &ids.usage_chunk(usage(pieces.len())),
            None,
            Duration::ZERO,
        ));
    }
    frames.push(Frame::done());
    frames
}

/// A streamed call of `ls`: the call with empty arguments, then the arguments, then the finish.
fn tool_frames(ids: &Ids, call_id: &str) -> Vec<Frame> {
    let call = json!({
        "role": "assistant", "content": null,
        "tool_calls": [{"index": 0, "id": call_id, "type": "function",
                        "function": {"name": "ls", "arguments": ""}}],
    });
    let args = json!({"tool_calls": [{"index": 0, "function": {"arguments": LS_ARGS}}]});
    [
        ids.chunk(call, None),
        ids.chunk(args, None),
        ids.chunk(json!({}), Some("tool_calls")),
        ids.usage_chunk(usage(5)),
    ]
    .iter()
    .map(|chunk| Frame::json(chunk, None, Duration::ZERO))
    .chain([Frame::done()])
    .collect()
}
