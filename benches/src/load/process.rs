//! [`ChildProcess`]: a program the load generator started, in a process group of its own, with
//! its stdout read line by line on a thread and its stderr written to a log file. Dropping it
//! kills the process and its group (SIGKILL); [`ChildProcess::stop`] asks first (SIGTERM).
//! Only processes started here are ever signalled, by their PID.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};

/// A running child process.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl ChildProcess {
    /// Starts `command` (named `name` in messages) with its stderr going to `log`, in a process
    /// group of its own, with no `GODEL_*` or `DASH_*` variable of this environment.
    ///
    /// # Errors
    /// When the log cannot be created or the program cannot start.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self> {
        let stderr = File::create(log).with_context(|| format!("create {}", log.display()))?;
        for (key, _) in std::env::vars_os() {
            let var = key.to_string_lossy();
            if var.starts_with("GODEL_") || var.starts_with("DASH_") {
                command.env_remove(&key);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("start {name} ({:?})", command.get_program()))?;
        let (send, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    // Once nobody listens the rest is drained and dropped.
                    let _ = send.send(line);
                }
            });
        }
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            lines,
            log: log.to_path_buf(),
        })
    }

    /// Its PID.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Reads stdout lines, giving each to `found` until it returns `Some`, for at most `limit`.
    ///
    /// # Errors
    /// When the process ends or the time runs out first (with the end of its log).
    pub fn wait_for_line<T>(
        &mut self,
        limit: Duration,
        mut found: impl FnMut(&str) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(value) = found(&line) {
                        return Ok(value);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "{} said nothing expected within {limit:?}\n{}",
                        self.name,
                        self.log_tail()
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!(
                        "{} exited before it was ready\n{}",
                        self.name,
                        self.log_tail()
                    )
                }
            }
        }
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The last lines of its log (stderr).
    #[must_use]
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("--- {} log ({}) ---\n{tail}", self.name, self.log.display())
    }

    /// Sends SIGTERM and waits up to `grace` for it to exit, then kills its group.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = pid_of(&child) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill(&mut child);
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }
}

/// SIGKILL to the child's group and to the child, then reaps it.
fn kill(child: &mut Child) {
    if let Some(pid) = pid_of(child) {
        let _ = kill_process_group(pid, Signal::KILL);
        let _ = kill_process(pid, Signal::KILL);
    }
    let _ = child.wait();
}

fn pid_of(child: &Child) -> Option<Pid> {
    Pid::from_raw(i32::try_from(child.id()).ok()?)
}
