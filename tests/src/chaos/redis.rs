//! [`OwnRedis`]: a private `redis-server` on a free loopback port, without persistence, that a
//! scenario kills and starts again: the new one is empty, i.e. Redis restarted *and* flushed.
//! When `redis-server` is not installed the scenario is skipped (or fails under
//! `GODEL_TEST_LIVE=require`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::chaos::free_port;
use crate::stores::unavailable;

/// A `redis-server` child process.
#[derive(Debug)]
pub struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts one on a free port and waits until it answers `PING`; `None` (skip) when
    /// `redis-server` cannot be run.
    ///
    /// # Panics
    /// When it cannot be run under `GODEL_TEST_LIVE=require`, or does not answer within 20 s.
    pub async fn start() -> Option<Self> {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        if let Err(e) = redis.spawn() {
            return unavailable("redis-server", &e);
        }
        redis.wait_ready().await;
        Some(redis)
    }

    /// `redis://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it with SIGKILL (everything it held is gone).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill_process(pid_of(&child), Signal::KILL);
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port, and waits until it answers.
    ///
    /// # Panics
    /// When it cannot start again.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().expect("start redis-server again");
        self.wait_ready().await;
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_ready(&self) {
        let started = tokio::time::Instant::now();
        while !self.pong().await {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "redis-server on port {} does not answer PING",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn pong(&self) -> bool {
        let Ok(mut socket) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        if socket.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut answer = [0_u8; 7];
        let read = tokio::time::timeout(Duration::from_secs(1), socket.read(&mut answer)).await;
        matches!(read, Ok(Ok(n)) if answer[..n].starts_with(b"+PONG"))
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn pid_of(child: &Child) -> Pid {
    let raw = i32::try_from(child.id()).expect("a PID fits in i32");
    Pid::from_raw(raw).expect("a child's PID is positive")
}
