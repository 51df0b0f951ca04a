//! Reading a model request: the last real user message, whether a tool result ends it, and
//! which trigger word decides the answer.

use serde_json::Value;

/// Marks the user block a gateway injects with its own context (not the user's prompt).
const INTERNAL_CONTEXT: &str = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT";

/// How to answer one model call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Behaviour {
    /// The fixed reply.
    Reply,
    /// Many chunks, slowly.
    Slow,
    /// A call of the `ls` tool.
    Tool,
    /// This HTTP status, with an error body.
    Status(u16),
}

/// The answer for a prompt whose last real user message is `text`; `after_tool` says the
/// conversation ends with a tool result (so a `TOOL` prompt gets its final text).
pub(super) fn behaviour(text: &str, after_tool: bool) -> Behaviour {
    if let Some(code) = http_code(text) {
        return Behaviour::Status(code);
    }
    if text.contains("FAIL") {
        return Behaviour::Status(500);
    }
    if text.contains("TOOL") && !after_tool {
        return Behaviour::Tool;
    }
    if text.contains("SLOW") {
        return Behaviour::Slow;
    }
    Behaviour::Reply
}

/// The status of the first `HTTPnnn` in `text` (three digits, 100–599).
fn http_code(text: &str) -> Option<u16> {
    text.match_indices("HTTP").find_map(|(at, _)| {
        let digits = text.get(at + 4..at + 7)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().filter(|code| (100..600).contains(code))
    })
}

/// The text of the last user message that is not the gateway's internal context, from
/// `messages` (chat completions) or `input` (Responses API; a plain string counts).
pub(super) fn last_user_text(body: &Value) -> String {
    let messages = body.get("messages").or_else(|| body.get("input"));
    match messages {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(messages)) => messages
            .iter()
            .rev()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .map(|m| text_of(m.get("content")))
            .find(|text| !is_internal(text))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// Whether the conversation ends with a tool result (after skipping internal context).
pub(super) fn ends_with_tool_result(body: &Value) -> bool {
    let Some(Value::Array(messages)) = body.get("messages").or_else(|| body.get("input")) else {
        return false;
    };
    messages
        .iter()
        .rev()
        .find(|m| {
            let internal = m.get("role").and_then(Value::as_str) == Some("user")
                && is_internal(&text_of(m.get("content")));
            !internal
        })
        .is_some_and(|m| {
            m.get("role").and_then(Value::as_str) == Some("tool")
                || m.get("type").and_then(Value::as_str) == Some("function_call_output")
        })
}

fn is_internal(text: &str) -> bool {
    text.trim_start().starts_with(INTERNAL_CONTEXT)
}

/// The text of a message's content: a string, or the `text` of its parts joined by spaces.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn triggers_pick_the_answer() {
        assert_eq!(behaviour("hello", false), Behaviour::Reply);
        assert_eq!(behaviour("be SLOW", false), Behaviour::Slow);
        assert_eq!(behaviour("TOOL: list", false), Behaviour::Tool);
        assert_eq!(behaviour("TOOL: list", true), Behaviour::Reply);
        assert_eq!(behaviour("FAIL now", false), Behaviour::Status(500));
        assert_eq!(behaviour("give HTTP401", false), Behaviour::Status(401));
        assert_eq!(behaviour("HTTP42 or HTTP999", false), Behaviour::Reply);
        assert_eq!(behaviour("HTTP/1.1", false), Behaviour::Reply);
    }

    #[test]
    fn the_internal_context_block_is_skipped() {
        let body = json!({"messages": [
            {"role": "system", "content": "you are"},
            {"role": "user", "content": [{"type": "text", "text": "TOOL please"}]},
            {"role": "user", "content": "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>> SLOW"},
        ]});
        assert_eq!(last_user_text(&body), "TOOL please");
        assert!(!ends_with_tool_result(&body));
    }

    #[test]
    fn a_tool_result_ends_the_tool_leg() {
        let body = json!({"messages": [
            {"role": "user", "content": "TOOL please"},
            {"role": "assistant", "tool_calls": []},
            {"role": "tool", "content": "a\nb"},
        ]});
        assert!(ends_with_tool_result(&body));
        assert_eq!(last_user_text(&json!({"input": "plain"})), "plain");
    }
}
