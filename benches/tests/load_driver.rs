//! `godel-bench load`'s driver is open loop: requests go out on their schedule while earlier
//! ones are still unanswered, and each latency counts from the request's due instant. A fake
//! server that answers nothing until every request of the schedule has arrived shows it: a
//! closed-loop driver would send one request and wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use godel_benches::load::driver::{self, RecentTasks, Traffic};
use godel_benches::load::http::{Http, Outcome};
use godel_benches::load::plan::Schedule;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Requests in the schedule.
const SENDS: usize = 20;

/// What the fake server saw.
#[derive(Debug, Default)]
struct Seen {
    /// Requests that arrived.
    arrived: AtomicUsize,
    /// Whether an answer was released by the timeout rather than by the last arrival.
    gave_up: AtomicBool,
    /// Notified when the last request arrived.
    all_in: Notify,
}

/// Serves `POST /api/v1/tasks` on loopback, holding every answer until `SENDS` requests have
/// arrived (or 3 s have passed, which it records); returns its URL and what it saw.
async fn held_server() -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let shared = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(socket, Arc::clone(&shared)));
        }
    });
    (url, seen)
}

async fn serve(mut socket: TcpStream, seen: Arc<Seen>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request: headers, then the body its content-length announces.
        let request_end = loop {
            if let Some(end) = complete_request(&buffer) {
                break end;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        buffer.drain(..request_end);
        let waiting = seen.all_in.notified();
        tokio::pin!(waiting);
        waiting.as_mut().enable();
        if seen.arrived.fetch_add(1, Ordering::SeqCst) + 1 >= SENDS {
            seen.all_in.notify_waiters();
        } else if tokio::time::timeout(Duration::from_secs(3), waiting)
            .await
            .is_err()
        {
            seen.gave_up.store(true, Ordering::SeqCst);
        }
        let body = r#"{"id":"00000000-0000-0000-0000-000000000000"}"#;
        let answer = format!(
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if socket.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The length of the first complete request in `buffer`, if there is one.
fn complete_request(buffer: &[u8]) -> Option<usize> {
    let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buffer.len() >= head_end + length).then_some(head_end + length)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_out_on_schedule_while_earlier_ones_wait_for_their_answers() {
    let (url, seen) = held_server().await;
    let http = Http::new(&url, "dk_test").unwrap();
    let schedule = Schedule::new(100.0, SENDS as f64 / 100.0);
    assert_eq!(schedule.count as usize, SENDS);
    let start = tokio::time::Instant::now();

    let samples = driver::drive(
        http,
        Traffic::Submit,
        schedule,
        start,
        Arc::new(RecentTasks::default()),
    )
    .await;

    assert!(
        !seen.gave_up.load(Ordering::SeqCst),
        "an answer was released by the timeout: requests waited for earlier answers"
    );
    assert_eq!(seen.arrived.load(Ordering::SeqCst), SENDS);
    assert_eq!(samples.len(), SENDS);
    assert!(
        samples.iter().all(|s| s.outcome == Outcome::Ok),
        "{samples:?}"
    );
    // Every answer was held until the last request arrived, so the first request, due at 0,
    // waited at least as long as the schedule's last due instant: its latency counts from its
    // due instant, not from when the previous request was answered.
    let first = samples.iter().find(|s| s.due.is_zero()).unwrap();
    let last_due = schedule.due(SENDS as u64 - 1);
    assert!(
        first.latency >= last_due,
        "the first request's latency {:?} is shorter than the schedule {last_due:?}",
        first.latency
    );
}

#[test]
fn the_load_subcommand_refuses_an_unknown_profile() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_godel-bench"))
        .args([
            "load",
            "--profile",
            "11",
            "--server-bin",
            "/nonexistent/godel-server",
            "--sim-bin",
            "/nonexistent/godel-openclaw-sim",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no profile 11"), "{stderr}");
}
