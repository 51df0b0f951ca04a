//! [`TestServer`]: a real `godel-server` process on 127.0.0.1, port 0, in a fresh data folder.
//!
//! The process runs in a process group of its own, with a clean environment (no `GODEL_*` or
//! `DASH_*` variable of the test's leaks in) and the data folder as its working directory (no
//! stray `godel.toml` is read). Its stdout gives the URL and, on a first start, the admin key;
//! both streams are kept, so every failure can show their ends. [`TestServer::stop`] sends
//! SIGTERM to its PID and waits (SIGKILL after the deadline); [`TestServer::kill9`] crashes it
//! with SIGKILL; dropping a [`TestServer`] kills the process and its group. Only processes these helpers started are ever signalled.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use tempfile::TempDir;
use tokio::sync::mpsc;

use crate::api::Api;
use crate::binaries::{binaries, tail};
use crate::cli::{CliOutput, run_cli};
use crate::events::EventStream;
use crate::stores::LiveStores;

/// How long a start may take before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How to start a [`TestServer`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    dev: bool,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl ServerOptions {
    /// `--dev` with its defaults (three simulated gateways).
    #[must_use]
    pub fn dev() -> Self {
        Self {
            dev: true,
            ..Self::default()
        }
    }

    /// `--dev` with one simulated gateway taking one run at a time (`GODEL_DEV_GATEWAYS=1`,
    /// `GODEL_DEV_SESSIONS=1`): tasks start one after the other, in the queue's order.
    #[must_use]
    pub fn one_agent() -> Self {
        Self::dev().gateways(1).sessions(1)
    }

    /// `GODEL_DEV_GATEWAYS`.
    #[must_use]
    pub fn gateways(self, n: u32) -> Self {
        self.env("GODEL_DEV_GATEWAYS", n.to_string())
    }

    /// `GODEL_DEV_SESSIONS`.
    #[must_use]
    pub fn sessions(self, n: u32) -> Self {
        self.env("GODEL_DEV_SESSIONS", n.to_string())
    }

    /// `GODEL_DEV_RUN_MS`: how long an ordinary simulated run takes (`SLOW` ones take 10 s).
    #[must_use]
    pub fn run_ms(self, ms: u64) -> Self {
        self.env("GODEL_DEV_RUN_MS", ms.to_string())
    }

    /// `GODEL_SHUTDOWN_GRACE_S`.
    #[must_use]
    pub fn shutdown_grace_s(self, seconds: u64) -> Self {
        self.env("GODEL_SHUTDOWN_GRACE_S", seconds.to_string())
    }

    /// Postgres (`GODEL_DATABASE_URL`) with Redis as its index (`GODEL_REDIS_URL`,
    /// `GODEL_REDIS_PREFIX`).
    #[must_use]
    pub fn stores(self, stores: &LiveStores) -> Self {
        self.env("GODEL_DATABASE_URL", stores.database_url())
            .env("GODEL_REDIS_URL", stores.redis_url())
            .env("GODEL_REDIS_PREFIX", stores.redis_prefix())
    }

    /// Any environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// An extra command-line argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }
}

/// What a process wrote so far, shared with the threads reading its pipes.
type Captured = Arc<Mutex<String>>;

/// A running `godel-server`.
#[derive(Debug)]
pub struct TestServer {
    options: ServerOptions,
    data: TempDir,
    child: Option<Child>,
    stdout: Captured,
    stderr: Captured,
    url: String,
    admin_key: String,
}

impl TestServer {
    /// Starts `godel-server` with `options` in a fresh data folder and waits until it listens.
    ///
    /// # Panics
    /// When it does not start within 60 s, or exits first (the panic shows its output).
    pub async fn start(options: ServerOptions) -> Self {
        let data = tempfile::Builder::new()
            .prefix("godel-e2e-")
            .tempdir()
            .expect("a temporary data folder");
        let mut server = Self {
            options,
            data,
            child: None,
            stdout: Captured::default(),
            stderr: Captured::default(),
            url: String::new(),
            admin_key: String::new(),
        };
        server.launch().await;
        assert!(
            !server.admin_key.is_empty(),
            "a first start prints the admin key; stdout:\n{}",
            server.stdout()
        );
        server
    }

    /// Stops the server (SIGTERM, as [`TestServer::stop`]) if it runs, and starts it again on
    /// the same data folder and options. The admin key stays the one of the first start.
    ///
    /// # Panics
    /// As [`TestServer::start`].
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop().await;
            assert!(status.success(), "the server stopped with {status}");
        }
        self.launch().await;
    }

    /// Sends SIGTERM to the server's PID and waits up to 60 s for it to exit (then SIGKILL).
    /// Returns its exit status.
    ///
    /// # Panics
    /// When the server is not running.
    pub async fn stop(&mut self) -> ExitStatus {
        self.stop_within(Duration::from_secs(60)).await
    }

    /// [`TestServer::stop`] with another deadline before SIGKILL.
    ///
    /// # Panics
    /// When the server is not running.
    pub async fn stop_within(&mut self, deadline: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the server is running");
        let pid = pid_of(&child);
        let _ = kill_process(pid, Signal::TERM);
        let started = tokio::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("the server's status") {
                return status;
            }
            if started.elapsed() > deadline {
                let _ = kill_process_group(pid, Signal::KILL);
                let status = child.wait().expect("the server's status");
                panic!(
                    "the server did not exit within {deadline:?} of SIGTERM (killed: {status})\n{}",
                    self.output_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server with SIGKILL (its whole process group), as a crash would, and waits for
    /// it to be gone; [`TestServer::restart`] then starts it again on the same data.
    ///
    /// # Panics
    /// When the server is not running.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is running");
        let pid = pid_of(&child);
        let _ = kill_process_group(pid, Signal::KILL);
        let _ = kill_process(pid, Signal::KILL);
        child.wait().expect("the server's status")
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin API key its first start printed.
    #[must_use]
    pub fn admin_key(&self) -> &str {
        &self.admin_key
    }

    /// Its data folder.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// An HTTP client authenticated with the admin key.
    #[must_use]
    pub fn api(&self) -> Api {
        Api::new(&self.url, Some(&self.admin_key))
    }

    /// A subscription to `/events` with the admin key.
    ///
    /// # Panics
    /// When the connection or the subscription fails.
    pub async fn events(&self, patterns: &[&str]) -> EventStream {
        EventStream::connect(&self.url, &self.admin_key, patterns).await
    }

    /// Runs the `godel` CLI against this server (`GODEL_URL`, `GODEL_API_KEY`).
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        run_cli(&self.url, Some(&self.admin_key), args).await
    }

    /// Everything it wrote to stdout so far.
    #[must_use]
    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout buffer").clone()
    }

    /// Everything it wrote to stderr so far (its logs).
    #[must_use]
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// The last lines of both streams, for failure messages.
    #[must_use]
    pub fn output_tail(&self) -> String {
        format!(
            "--- server stdout (end) ---\n{}\n--- server stderr (end) ---\n{}",
            tail(&self.stdout(), 20),
            tail(&self.stderr(), 40)
        )
    }

    async fn launch(&mut self) {
        let mut command = Command::new(binaries().server());
        command
            .current_dir(self.data.path())
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data.path())
            .args(&self.options.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.options.dev {
            command.arg("--dev");
        }
        clean_env(&mut command);
        command.env("RUST_BACKTRACE", "1");
        command.envs(self.options.env.iter().map(|(k, v)| (k, v)));
        {
            use std::os::unix::process::CommandExt as _;
            command.process_group(0);
        }
        let mut child = command.spawn().expect("spawn godel-server");
        let (lines, mut stdout_lines) = mpsc::unbounded_channel();
        self.stdout.lock().expect("stdout buffer").clear();
        self.stderr.lock().expect("stderr buffer").clear();
        pump(child.stdout.take(), Arc::clone(&self.stdout), Some(lines));
        pump(child.stderr.take(), Arc::clone(&self.stderr), None);
        self.child = Some(child);

        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let mut url = None;
        let mut announced = false;
        // `announce` prints, in one go: the address, health, API, [admin key], [dev gateways].
        // Read until the API line, then the lines this start should add.
        while !announced {
            let line = match tokio::time::timeout_at(deadline, stdout_lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => {
                    // stdout closed: the process ended before announcing.
                    let status = self.reap(Duration::from_secs(5)).await;
                    panic!(
                        "godel-server exited ({status}) before listening\n{}",
                        self.output_tail()
                    );
                }
                Err(_) => panic!(
                    "godel-server did not announce its address within {START_TIMEOUT:?}\n{}",
                    self.output_tail()
                ),
            };
            if let Some(found) = listening_url(&line) {
                url = Some(found);
            }
            announced = url.is_some() && line.trim_start().starts_with("API:");
        }
        let first_start = self.admin_key.is_empty();
        let mut saw_dev = false;
        while (first_start && self.admin_key.is_empty()) || (self.options.dev && !saw_dev) {
            match tokio::time::timeout(Duration::from_secs(5), stdout_lines.recv()).await {
                Ok(Some(line)) => {
                    if let Some(key) = admin_key(&line) {
                        self.admin_key = key;
                    }
                    saw_dev |= line.trim_start().starts_with("dev:");
                }
                _ => break,
            }
        }
        self.url = url.expect("the URL was found");
    }

    /// Waits up to `limit` for the process to exit, then kills it; its status.
    async fn reap(&mut self, limit: Duration) -> String {
        let Some(mut child) = self.child.take() else {
            return "not running".to_owned();
        };
        let started = tokio::time::Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                return status.to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = kill_process_group(pid_of(&child), Signal::KILL);
        child
            .wait()
            .map_or_else(|e| e.to_string(), |s| s.to_string())
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = pid_of(&child);
            let _ = kill_process_group(pid, Signal::KILL);
            let _ = kill_process(pid, Signal::KILL);
            let _ = child.wait();
        }
    }
}

/// Removes every `GODEL_*` and `DASH_*` variable of the test's environment from `command`.
pub(crate) fn clean_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("GODEL_") || name.starts_with("DASH_") {
            command.env_remove(&key);
        }
    }
}

fn pid_of(child: &Child) -> Pid {
    let raw = i32::try_from(child.id()).expect("a PID fits in i32");
    Pid::from_raw(raw).expect("a child's PID is positive")
}

/// Copies a pipe into `buffer` line by line on a thread of its own, sending each line to
/// `lines` too when given.
fn pump(
    pipe: Option<impl std::io::Read + Send + 'static>,
    buffer: Captured,
    lines: Option<mpsc::UnboundedSender<String>>,
) {
    let Some(pipe) = pipe else { return };
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        let mut reader = std::io::BufReader::new(pipe);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    buffer.lock().expect("output buffer").push_str(&line);
                    if let Some(lines) = &lines {
                        let _ = lines.send(line.trim_end().to_owned());
                    }
                }
            }
        }
    });
}

/// The URL of `godel-server 0.1.0 listening on http://127.0.0.1:PORT`.
fn listening_url(line: &str) -> Option<String> {
    let (_, url) = line.split_once(" listening on ")?;
    let url = url.trim();
    url.starts_with("http://").then(|| url.to_owned())
}

/// The key of `  admin API key (shown once; saved to …): dk_live_…`.
fn admin_key(line: &str) -> Option<String> {
    if !line.trim_start().starts_with("admin API key") {
        return None;
    }
    let (_, key) = line.rsplit_once(": ")?;
    let key = key.trim();
    key.starts_with("dk_").then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcement_lines_are_parsed() {
        assert_eq!(
            listening_url("godel-server 0.1.0 listening on http://127.0.0.1:40123"),
            Some("http://127.0.0.1:40123".to_owned())
        );
        assert_eq!(listening_url("  health:  http://127.0.0.1:1/health"), None);
        assert_eq!(
            admin_key("  admin API key (shown once; saved to /tmp/x/admin.key): dk_live_abc"),
            Some("dk_live_abc".to_owned())
        );
        assert_eq!(admin_key("  API:     http://127.0.0.1:1/api/v1"), None);
    }
}
