//! The fake model spoken to over raw HTTP/1.0 (the connection's end delimits the body).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::*;

/// A response: status, headers (lowercase names) and body.
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// The JSON payloads of the `data:` lines of an event stream (`[DONE]` as a string).
    fn events(&self) -> Vec<Value> {
        assert!(
            self.headers.contains("text/event-stream"),
            "{}",
            self.headers
        );
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_owned())))
            .collect()
    }
}

async fn call(model: &FakeModel, method: &str, path: &str, body: Option<&Value>) -> Answer {
    let mut stream = TcpStream::connect(model.addr()).await.expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        model.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut raw))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    Answer {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

fn chat(prompt: &str, stream: bool) -> Value {
    json!({"model": "fake-model", "stream": stream, "stream_options": {"include_usage": true},
           "messages": [{"role": "system", "content": "be brief"},
                        {"role": "user", "content": prompt}]})
}

/// The streamed text of chat completion chunks.
fn streamed_text(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| {
            e.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

#[tokio::test]
async fn lists_its_model() {
    let model = FakeModel::start().await.expect("start");
    assert!(model.url().starts_with("http://127.0.0.1:"));
    assert!(model.url().ends_with("/v1"));
    let answer = call(&model, "GET", "/v1/models", None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["data"][0]["id"], MODEL_ID);
    assert_eq!(model.requests(), 0, "listing models is not a model call");
    model.shutdown().await;
}

#[tokio::test]
async fn an_ordinary_prompt_gets_the_fixed_reply_whole_or_streamed() {
    let model = FakeModel::start().await.expect("start");
    let whole = call(
        &model,
        "POST",
        "/v1/chat/completions",
        Some(&chat("hi", false)),
    )
    .await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.json()["choices"][0]["message"]["content"], REPLY);

    let streamed = call(
        &model,
        "POST",
        "/v1/chat/completions",
        Some(&chat("hi", true)),
    )
    .await;
    assert_eq!(streamed.status, 200);
    let events = streamed.events();
    assert_eq!(streamed_text(&events), REPLY);
    assert!(
        events.iter().any(|e| e.get("usage").is_some()),
        "usage chunk"
    );
    assert_eq!(events.last(), Some(&json!("[DONE]")));
    assert_eq!(model.requests(), 2);
    assert_eq!(model.prompts(), ["hi", "hi"]);
    model.shutdown().await;
}

#[tokio::test]
async fn a_tool_prompt_calls_ls_then_answers_after_the_result() {
    let model = FakeModel::start().await.expect("start");
    let first = call(
        &model,
        "POST",
        "/v1/chat/completions",
        Some(&chat("TOOL: list", true)),
    )
    .await;
    let events = first.events();
    let call_chunk = &events[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(call_chunk["function"]["name"], "ls");
    let id = call_chunk["id"].as_str().expect("a call id").to_owned();
    let args: String = events
        .iter()
        .filter_map(|e| {
            e.pointer("/choices/0/delta/tool_calls/0/function/arguments")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).ok(),
        Some(json!({"path": "."}))
    );
    assert!(
        events
            .iter()
            .any(|e| e["choices"][0]["finish_reason"] == "tool_calls")
    );

    let mut second = chat("TOOL: list", true);
    let messages = second["messages"].as_array_mut().expect("messages");
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": id, "type": "function", "function": {"name": "ls", "arguments": args}}]}));
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "a.txt"}));
    messages.push(json!({"role": "user", "content": "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>> x"}));
    let answer = call(&model, "POST", "/v1/chat/completions", Some(&second)).await;
    assert_eq!(streamed_text(&answer.events()), REPLY);

    let whole = call(
        &model,
        "POST",
        "/v1/chat/completions",
        Some(&chat("TOOL", false)),
    )
    .await;
    let whole = whole.json();
    assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        whole["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "ls"
    );
    model.shutdown().await;
}

#[tokio::test]
async fn a_slow_prompt_streams_one_chunk_per_interval() {
    let config = FakeModelConfig {
        slow_chunks: 4,
        slow_interval: Duration::from_millis(100),
        ..FakeModelConfig::default()
    };
    let model = FakeModel::start_with(config).await.expect("start");
    let began = Instant::now();
    let answer = call(
        &model,
        "POST",
        "/v1/chat/completions",
        Some(&chat("SLOW", true)),
    )
    .await;
    assert!(
        began.elapsed() >= Duration::from_millis(400),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(streamed_text(&answer.events()), "tick tick tick tick");
    model.shutdown().await;
}

#[tokio::test]
async fn failure_triggers_answer_with_their_status() {
    let model = FakeModel::start().await.expect("start");
    for (prompt, status) in [("FAIL", 500), ("please HTTP401", 401), ("HTTP429", 429)] {
        let answer = call(
            &model,
            "POST",
            "/v1/chat/completions",
            Some(&chat(prompt, true)),
        )
        .await;
        assert_eq!(answer.status, status, "{prompt}");
        assert!(answer.json()["error"]["message"].is_string(), "{prompt}");
    }
    let answer = call(
        &model,
        "POST",
        "/v1/responses",
        Some(&json!({"input": "HTTP403"})),
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_eq!(model.requests(), 4);
    model.shutdown().await;
}

#[tokio::test]
async fn the_responses_api_answers_text_whole_or_streamed() {
    let model = FakeModel::start().await.expect("start");
    let input = json!({"model": "fake-model", "input": [{"role": "user", "content": "hi"}]});
    let whole = call(&model, "POST", "/v1/responses", Some(&input)).await;
    assert_eq!(whole.json()["output"][0]["content"][0]["text"], REPLY);

    let mut streamed = input.clone();
    streamed["stream"] = json!(true);
    let answer = call(&model, "POST", "/v1/responses", Some(&streamed)).await;
    let events = answer.events();
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(text, REPLY);
    assert_eq!(
        events.last().map(|e| e["type"].clone()),
        Some(json!("response.completed"))
    );
    model.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_refused() {
    let model = FakeModel::start().await.expect("start");
    assert_eq!(call(&model, "GET", "/v2/nothing", None).await.status, 404);
    let mut stream = TcpStream::connect(model.addr()).await.expect("connect");
    stream
        .write_all(b"POST /v1/chat/completions HTTP/1.0\r\nContent-Length: 3\r\n\r\nnot")
        .await
        .expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    assert!(raw.starts_with("HTTP/1.0 400"), "{raw}");
    model.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_slow_streams_and_stops_listening() {
    let model = FakeModel::start().await.expect("start");
    let addr = model.addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = chat("SLOW", true).to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut first = [0u8; 12];
    stream
        .read_exact(&mut first)
        .await
        .expect("the status line");
    let began = Instant::now();
    model.shutdown().await;
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the slow stream ends at shutdown")
        .expect("read");
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}
