//! Readiness probes over plain HTTP on the gateway's port (`/readyz`, else `/health`), and the
//! backoff between them.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Most bytes of a probe answer read (the status line is all that matters).
const MAX_ANSWER: u64 = 64 * 1024;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Ready for clients.
    Ready,
    /// Not (yet) ready: why.
    NotReady(String),
}

/// Probes `host:port`: `GET /readyz` must answer 200; a server without `/readyz` (404) is
/// asked `GET /health` instead.
pub(crate) async fn ready(host: &str, port: u16) -> Probe {
    match status(host, port, "/readyz").await {
        Ok(200) => Probe::Ready,
        Ok(404) => match status(host, port, "/health").await {
            Ok(200) => Probe::Ready,
            Ok(code) => Probe::NotReady(format!("GET /health answered {code}")),
            Err(e) => Probe::NotReady(format!("GET /health failed: {e}")),
        },
        Ok(code) => Probe::NotReady(format!("GET /readyz answered {code}")),
        Err(e) => Probe::NotReady(format!("GET /readyz failed: {e}")),
    }
}

/// Whether anything answers `GET /health` with 200 at `host:port`.
pub(crate) async fn healthy(host: &str, port: u16) -> bool {
    matches!(status(host, port, "/health").await, Ok(200))
}

/// The HTTP status of `GET path` at `host:port` (HTTP/1.0, so the server closes the
/// connection), within [`PROBE_TIMEOUT`].
pub(crate) async fn status(host: &str, port: u16, path: &str) -> io::Result<u16> {
    tokio::time::timeout(PROBE_TIMEOUT, status_now(host, port, path))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer within 3 s"))?
}

async fn status_now(host: &str, port: u16, path: &str) -> io::Result<u16> {
    let mut stream = TcpStream::connect((host, port)).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: */*\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let mut limited = stream.take(MAX_ANSWER);
    let mut buf = [0u8; 1024];
    loop {
        let n = limited.read(&mut buf).await?;
        answer.extend_from_slice(&buf[..n]);
        if n == 0 || answer.windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    let line = String::from_utf8_lossy(&answer);
    line.strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP answer"))
}

/// Exponential backoff: `initial`, doubling, at most `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self { next: initial, max }
    }

    /// The pause to take now; the next one is twice as long (up to the maximum).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// Serves one fixed answer per connection for each path in `routes` (others get 404).
    async fn serve(routes: &'static [(&'static str, u16)]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let code = routes
                    .iter()
                    .find(|(path, _)| request.starts_with(&format!("GET {path} ")))
                    .map_or(404, |(_, code)| *code);
                let answer = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn readyz_decides_and_health_stands_in_when_readyz_is_unknown() {
        let ready = serve(&[("/readyz", 200), ("/health", 200)]).await;
        assert_eq!(super::ready("127.0.0.1", ready).await, Probe::Ready);
        let booting = serve(&[("/readyz", 503), ("/health", 200)]).await;
        assert_eq!(
            super::ready("127.0.0.1", booting).await,
            Probe::NotReady("GET /readyz answered 503".into())
        );
        let health_only = serve(&[("/health", 200)]).await;
        assert_eq!(super::ready("127.0.0.1", health_only).await, Probe::Ready);
        assert!(healthy("127.0.0.1", health_only).await);
    }

    #[tokio::test]
    async fn nothing_listening_is_not_ready() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        assert!(matches!(
            super::ready("127.0.0.1", port).await,
            Probe::NotReady(_)
        ));
        assert!(!healthy("127.0.0.1", port).await);
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<_> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
    }
}
