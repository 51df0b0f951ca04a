//! [`ClientError`]: why a call to the Godel API failed, from the client's side.

use std::fmt;

/// A boxed transport error (reqwest, tungstenite): drivers never cross the client's API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a call to a Godel server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error body (PRD 10.2).
    #[error("{message} ({code}{})", RequestSuffix(request_id))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The PRD 10.2 code (`not_found`, `conflict`, ...).
        code: String,
        /// The server's message.
        message: String,
        /// The request's id, to find it in the server's logs (empty when the server gave none).
        request_id: String,
        /// Whether the same request may succeed later.
        retryable: bool,
    },
    /// The server could not be reached (refused, unresolvable, timed out, dropped).
    #[error("cannot reach the Godel server at {url}: {source}")]
    Connect {
        /// The URL that was tried.
        url: String,
        /// What the transport said.
        #[source]
        source: BoxError,
    },
    /// The server answered something that is not the expected shape.
    #[error("unexpected answer from {url}: {message}")]
    Decode {
        /// The URL that answered.
        url: String,
        /// What did not fit.
        message: String,
    },
    /// The base URL (or a URL built from it) is not a usable `http(s)://` URL.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The `/events` WebSocket failed after it was opened.
    #[error("event stream from {url} failed: {message}")]
    Stream {
        /// The WebSocket URL.
        url: String,
        /// What happened.
        message: String,
    },
}

/// Renders `, request <id>` when there is an id.
struct RequestSuffix<'a>(&'a str);

impl fmt::Display for RequestSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, ", request {}", self.0)
        }
    }
}

/// The kind of a [`ClientError`], cheap to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`ClientError::Api`].
    Api,
    /// [`ClientError::Connect`].
    Connect,
    /// [`ClientError::Decode`].
    Decode,
    /// [`ClientError::InvalidUrl`].
    InvalidUrl,
    /// [`ClientError::Stream`].
    Stream,
}

impl ClientError {
    /// Its kind.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api { .. } => ErrorKind::Api,
            Self::Connect { .. } => ErrorKind::Connect,
            Self::Decode { .. } => ErrorKind::Decode,
            Self::InvalidUrl { .. } => ErrorKind::InvalidUrl,
            Self::Stream { .. } => ErrorKind::Stream,
        }
    }

    /// The PRD 10.2 code when the server answered with an error, e.g. `not_found`.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status when the server answered with an error.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying the same call again later may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { retryable, .. } => *retryable,
            Self::Connect { .. } | Self::Stream { .. } => true,
            Self::Decode { .. } | Self::InvalidUrl { .. } => false,
        }
    }

    pub(crate) fn decode(url: impl Into<String>, message: impl fmt::Display) -> Self {
        Self::Decode {
            url: url.into(),
            message: message.to_string(),
        }
    }

    pub(crate) fn invalid_url(url: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::InvalidUrl {
            url: url.into(),
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_as_one_line_with_code_and_request() {
        let e = ClientError::Api {
            status: 404,
            code: "not_found".into(),
            message: "task 0193 not found".into(),
            request_id: "req-1".into(),
            retryable: false,
        };
        assert_eq!(
            e.to_string(),
            "task 0193 not found (not_found, request req-1)"
        );
        assert_eq!(e.kind(), ErrorKind::Api);
        assert_eq!(e.code(), Some("not_found"));
        let no_id = ClientError::Api {
            status: 409,
            code: "conflict".into(),
            message: "already terminal".into(),
            request_id: String::new(),
            retryable: false,
        };
        assert_eq!(no_id.to_string(), "already terminal (conflict)");
    }

    #[test]
    fn connect_errors_name_the_url() {
        let e = ClientError::Connect {
            url: "http://127.0.0.1:1".into(),
            source: "connection refused".into(),
        };
        assert!(e.to_string().contains("http://127.0.0.1:1"), "{e}");
        assert!(e.is_retryable());
    }
}
