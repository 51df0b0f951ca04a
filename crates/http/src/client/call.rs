//! [`Call`]: one request to the API, not yet sent. `.await` it for the typed answer;
//! [`Call::raw`] gives the JSON as sent, [`Call::text`] the body as text.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ClientError;
use super::{Client, Credential};

/// Where a path is rooted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// Under `/api/v1`.
    Api,
    /// At the server's root (`/health`).
    Server,
}

/// One request to the API, typed by what its answer decodes into.
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<'c, T> {
    client: &'c Client,
    method: Method,
    root: Root,
    segments: Vec<String>,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// Also decode the body of these error statuses as an answer (`/health` answers 503).
    accept_error_body: bool,
    _answer: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Call<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("segments", &self.segments)
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl<'c, T> Call<'c, T> {
    pub(crate) fn new(client: &'c Client, method: Method, root: Root, path: &[&str]) -> Self {
        Self {
            client,
            method,
            root,
            segments: path.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            accept_error_body: false,
            _answer: PhantomData,
        }
    }

    /// Appends a path segment (percent-encoded when sent).
    pub(crate) fn segment(mut self, segment: impl ToString) -> Self {
        self.segments.push(segment.to_string());
        self
    }

    /// Adds a query parameter when `value` is `Some`.
    pub(crate) fn query(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.query.push((name, v.to_string()));
        }
        self
    }

    /// Adds a header when `value` is `Some`.
    pub(crate) fn header(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.headers.push((name, v.to_string()));
        }
        self
    }

    /// Sends `body` as JSON.
    pub(crate) fn json(mut self, body: &impl serde::Serialize) -> Result<Self, ClientError> {
        let value = serde_json::to_value(body)
            .map_err(|e| ClientError::decode("(request body)", format!("cannot encode: {e}")))?;
        self.body = Some(value);
        Ok(self)
    }

    /// Sends `body`, already JSON.
    pub(crate) fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Decodes the body of an error status as an answer when it parses as one.
    pub(crate) fn accept_error_body(mut self) -> Self {
        self.accept_error_body = true;
        self
    }

    /// The full URL this call goes to.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] when the base URL cannot take a path.
    pub fn url(&self) -> Result<String, ClientError> {
        self.build_url().map(String::from)
    }

    fn build_url(&self) -> Result<reqwest::Url, ClientError> {
        let mut segments = Vec::with_capacity(self.segments.len() + 2);
        if self.root == Root::Api {
            segments.push("api".to_owned());
            segments.push("v1".to_owned());
        }
        segments.extend(self.segments.iter().cloned());
        let mut url = self.client.url(&segments)?;
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &self.query {
                pairs.append_pair(name, value);
            }
        }
        Ok(url)
    }

    /// Sends the request; answers the status, the URL and the body.
    async fn send(&self) -> Result<(StatusCode, String, Vec<u8>), ClientError> {
        let url = self.build_url()?;
        let shown = url.to_string();
        let mut request = self.client.http.request(self.method.clone(), url);
        match &self.client.credential {
            Some(Credential::ApiKey(k)) => request = request.header("x-api-key", k),
            Some(Credential::Bearer(t)) => request = request.bearer_auth(t),
            None => {}
        }
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &self.body {
            request = request.json(body);
        }
        let connect = |e: reqwest::Error| ClientError::Connect {
            url: self.client.base_url().to_owned(),
            source: Box::new(e),
        };
        let response = request.send().await.map_err(connect)?;
        let status = response.status();
        let body = response.bytes().await.map_err(connect)?;
        Ok((status, shown, body.to_vec()))
    }

    /// Sends the request and answers the body as text (for `?format=ndjson`).
    ///
    /// # Errors
    /// [`ClientError::Api`] for an error answer; [`ClientError::Connect`] when the server
    /// cannot be reached; [`ClientError::Decode`] when the body is not UTF-8.
    pub async fn text(self) -> Result<String, ClientError> {
        let (status, url, body) = self.send().await?;
        if !status.is_success() {
            return Err(api_error(status, &url, &body));
        }
        String::from_utf8(body).map_err(|e| ClientError::decode(url, e))
    }

    /// Sends the request and answers the JSON exactly as the server sent it (`null` for an
    /// empty body).
    ///
    /// # Errors
    /// As [`Call::text`], and [`ClientError::Decode`] when the body is not JSON.
    pub async fn raw(self) -> Result<Value, ClientError> {
        let accept = self.accept_error_body;
        let (status, url, body) = self.send().await?;
        // An error status is an error, unless this call accepts its body as an answer
        // (`/health` answers 503 with a health body) and the body is not an error body.
        if !status.is_success() && (!accept || looks_like_error_body(&body)) {
            return Err(api_error(status, &url, &body));
        }
        parse_json(&url, &body)
    }
}

impl<'c, T: DeserializeOwned + Send + 'c> IntoFuture for Call<'c, T> {
    type Output = Result<T, ClientError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let url = self.url().unwrap_or_default();
            let value = self.raw().await?;
            serde_json::from_value(value).map_err(|e| ClientError::decode(url, e))
        })
    }
}

/// Parses a body as JSON; an empty body is `null`.
fn parse_json(url: &str, body: &[u8]) -> Result<Value, ClientError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| ClientError::decode(url, e))
}

/// Whether `body` is a PRD 10.2 error body.
fn looks_like_error_body(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .is_some_and(|v| v.get("error").is_some_and(Value::is_object))
}

/// The PRD 10.2 error body of a failed answer, or a stand-in when the body is not one.
pub(crate) fn api_error(status: StatusCode, url: &str, body: &[u8]) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(serde::Deserialize)]
    struct Detail {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        retryable: Option<bool>,
        #[serde(default)]
        request_id: String,
    }
    let fallback_code = || match status.as_u16() {
        400 | 413 | 422 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        429 => "rate_limited",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        _ => "internal_error",
    };
    let default_retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
    match serde_json::from_slice::<Body>(body) {
        Ok(Body { error }) => ClientError::Api {
            status: status.as_u16(),
            code: if error.code.is_empty() {
                fallback_code().to_owned()
            } else {
                error.code
            },
            message: if error.message.is_empty() {
                format!("{status} from {url}")
            } else {
                error.message
            },
            retryable: error.retryable.unwrap_or(default_retryable),
            request_id: error.request_id,
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                format!("{status} from {url}")
            } else {
                let short: String = text.chars().take(200).collect();
                format!("{status} from {url}: {short}")
            };
            ClientError::Api {
                status: status.as_u16(),
                code: fallback_code().to_owned(),
                message,
                request_id: String::new(),
                retryable: default_retryable,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_parsed_and_other_bodies_are_described() {
        let body = br#"{"error":{"code":"not_found","message":"task x not found","retryable":false,"request_id":"r1"}}"#;
        let e = api_error(StatusCode::NOT_FOUND, "http://h/api/v1/tasks/x", body);
        assert!(matches!(
            &e,
            ClientError::Api { status: 404, code, message, request_id, retryable: false }
                if code == "not_found" && message == "task x not found" && request_id == "r1"
        ));

        let e = api_error(StatusCode::BAD_GATEWAY, "http://h/x", b"<html>oops</html>");
        assert_eq!(e.code(), Some("internal_error"));
        assert!(e.is_retryable());
        assert!(e.to_string().contains("<html>oops</html>"), "{e}");

        let e = api_error(StatusCode::TOO_MANY_REQUESTS, "http://h/x", b"");
        assert_eq!(e.code(), Some("rate_limited"));
    }

    #[test]
    fn empty_bodies_are_null_and_bad_json_is_a_decode_error() {
        assert_eq!(parse_json("u", b"  ").unwrap(), Value::Null);
        assert_eq!(parse_json("u", b"{\"a\":1}").unwrap()["a"], 1);
        assert!(matches!(
            parse_json("u", b"{"),
            Err(ClientError::Decode { .. })
        ));
        assert!(looks_like_error_body(br#"{"error":{"code":"x"}}"#));
        assert!(!looks_like_error_body(br#"{"status":"unhealthy"}"#));
    }
}
