//! The plain HTTP side of the gateway port: just enough HTTP/1.1 to read one request head and
//! answer the probes `/health`, `/healthz`, `/ready`, `/readyz`, `/startupz` (one response,
//! `Content-Length`, `Connection: close`). Everything else is 404.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::Counters;
use crate::server::Instance;

/// The largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A parsed request head, plus whatever bytes followed it in the same reads.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) path: String,
    headers: Vec<(String, String)>,
    /// Bytes after the head (a WebSocket client's first frames, if it did not wait for the 101).
    pub(crate) rest: Vec<u8>,
}

impl Head {
    /// The first header with this (case-insensitive) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A `GET` with `Upgrade: websocket`.
    pub(crate) fn is_websocket_upgrade(&self) -> bool {
        self.method == "GET"
            && self.header("upgrade").is_some_and(|v| {
                v.split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
            })
    }
}

/// Reads until the end of the request head (`\r\n\r\n`) and parses it.
pub(crate) async fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the request head ended",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_head_end(&buf) {
            let rest = buf.split_off(end);
            return parse_head(&buf, rest);
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
    }
}

/// The index just past `\r\n\r\n`.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn parse_head(head: &[u8], rest: Vec<u8>) -> io::Result<Head> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let text = std::str::from_utf8(head).map_err(|_| invalid("request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or_else(|| invalid("empty request"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(invalid("unsupported HTTP version"));
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("malformed header"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let path = target.split('?').next().unwrap_or(target).to_owned();
    Ok(Head {
        method: method.to_owned(),
        path,
        headers,
        rest,
    })
}

/// Answers one plain HTTP request and closes.
pub(crate) async fn serve(instance: &Instance, mut stream: TcpStream, head: &Head) {
    Counters::bump(&instance.shared.counters.http_requests);
    let (status, body) = route(instance, head);
    let _ = write_response(&mut stream, status, &body).await;
}

fn route(instance: &Instance, head: &Head) -> (u16, String) {
    let starting = instance.starting();
    match (head.method.as_str(), head.path.as_str()) {
        ("GET", "/health" | "/healthz") => (200, r#"{"ok":true,"status":"live"}"#.to_owned()),
        ("GET", "/ready" | "/readyz" | "/startupz") => {
            if starting {
                (503, r#"{"ok":false,"status":"starting"}"#.to_owned())
            } else {
                (200, r#"{"ok":true,"status":"ready"}"#.to_owned())
            }
        }
        ("GET", _) => (404, r#"{"ok":false,"error":"not found"}"#.to_owned()),
        _ => (
            405,
            r#"{"ok":false,"error":"method not allowed"}"#.to_owned(),
        ),
    }
}

/// Answers 400 to a request whose head could not be read.
pub(crate) async fn reply_bad_request(stream: &mut TcpStream) {
    let _ = write_response(stream, 400, r#"{"ok":false,"error":"bad request"}"#).await;
}

async fn write_response(stream: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Unknown",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::{find_head_end, parse_head};

    #[test]
    fn a_websocket_upgrade_head_is_recognised_and_trailing_bytes_are_kept() {
        let raw = b"GET /?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\n\r\nXY";
        let end = find_head_end(raw).unwrap();
        let head = parse_head(&raw[..end], raw[end..].to_vec()).unwrap();
        assert!(head.is_websocket_upgrade());
        assert_eq!(head.path, "/");
        assert_eq!(head.header("sec-websocket-key"), Some("abc"));
        assert_eq!(head.rest, b"XY");
    }

    #[test]
    fn a_plain_get_is_not_an_upgrade_and_garbage_is_refused() {
        let raw = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
        let head = parse_head(raw, Vec::new()).unwrap();
        assert!(!head.is_websocket_upgrade());
        assert_eq!(head.path, "/healthz");
        assert!(parse_head(b"\x00\x01\r\n\r\n", Vec::new()).is_err());
        assert!(parse_head(b"GET / SPDY\r\n\r\n", Vec::new()).is_err());
    }
}
