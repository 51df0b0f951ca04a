//! Server-sent events: a response that writes prepared frames, each after its own pause, and
//! stops early when the fake model shuts down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::Value;

use super::Shared;

/// One frame to send after `pause`.
pub(super) struct Frame {
    pause: Duration,
    text: String,
}

impl Frame {
    /// A `data:` frame carrying `data` as JSON (with an `event:` line when `event` is set).
    pub(super) fn json(data: &Value, event: Option<&str>, pause: Duration) -> Self {
        let mut text = String::new();
        if let Some(event) = event {
            text.push_str("event: ");
            text.push_str(event);
            text.push('\n');
        }
        text.push_str("data: ");
        text.push_str(&data.to_string());
        text.push_str("\n\n");
        Self { pause, text }
    }

    /// The `data: [DONE]` frame that ends a chat completion stream.
    pub(super) fn done() -> Self {
        Self {
            pause: Duration::ZERO,
            text: "data: [DONE]\n\n".to_owned(),
        }
    }
}

/// A `200 text/event-stream` response writing `frames` in order.
pub(super) fn response(shared: &Arc<Shared>, frames: Vec<Frame>) -> Response {
    let shared = Arc::clone(shared);
    let stream = futures_util::stream::unfold(
        (frames.into_iter(), shared),
        |(mut frames, shared)| async move {
            let frame = frames.next()?;
            if !frame.pause.is_zero() {
                tokio::time::sleep(frame.pause).await;
            }
            if shared.closing() {
                return None;
            }
            Some((Ok::<_, Infallible>(frame.text), (frames, shared)))
        },
    );
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
