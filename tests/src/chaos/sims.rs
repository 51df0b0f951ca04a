//! [`SimProcess`]: one simulated OpenClaw gateway as a process of its own (`godel-openclaw-sim
//! --instances 1`), so a scenario can SIGKILL it and start it again on the same port, or hang it
//! (SIGUSR1) and release it (SIGUSR2). Each incarnation writes its own run journal; an
//! incarnation that was killed ends, for the journal checks, at the instant of its kill.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};

use crate::binaries::binaries;
use crate::chaos::now_ms;
use crate::server::clean_env;

/// How long a simulator may take to print its endpoint.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One incarnation of a simulator: its journal, and when it was killed or stopped.
#[derive(Debug, Clone)]
pub struct Incarnation {
    /// Its run journal.
    pub journal: PathBuf,
    /// When it was killed or stopped (Unix ms); `None` while it runs.
    pub ended_at_ms: Option<u64>,
}

/// A `godel-openclaw-sim` child process serving one gateway.
#[derive(Debug)]
pub struct SimProcess {
    name: String,
    dir: PathBuf,
    port: u16,
    run_ms: u64,
    child: Option<Child>,
    incarnations: Vec<Incarnation>,
}

impl SimProcess {
    /// Starts a simulator named `name` (journals go to `dir`) on a free port, whose ordinary runs
    /// last `run_ms`, and waits until it prints its endpoint.
    ///
    /// # Panics
    /// When it cannot start or does not announce itself within 30 s.
    #[must_use]
    pub fn start(name: &str, dir: &Path, run_ms: u64) -> Self {
        let mut sim = Self {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            port: 0,
            run_ms,
            child: None,
            incarnations: Vec::new(),
        };
        sim.launch();
        sim
    }

    /// Its WebSocket endpoint, `ws://127.0.0.1:<port>`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every incarnation so far, oldest first.
    #[must_use]
    pub fn incarnations(&self) -> &[Incarnation] {
        &self.incarnations
    }

    /// Kills it with SIGKILL (a crash: connections dropped, runs lost); returns the instant
    /// (Unix ms), which ends the current incarnation's open runs.
    ///
    /// # Panics
    /// When it is not running.
    pub fn kill9(&mut self) -> u64 {
        let mut child = self.child.take().expect("the simulator is running");
        let _ = kill_process(pid_of(&child), Signal::KILL);
        let _ = child.wait();
        let at = now_ms();
        if let Some(current) = self.incarnations.last_mut() {
            current.ended_at_ms = Some(at);
        }
        at
    }

    /// Starts it again on the same port, with a fresh journal (kills it first if it runs).
    ///
    /// # Panics
    /// As [`SimProcess::start`].
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.launch();
    }

    /// Hang mode (SIGUSR1): connections accepted, nothing answered, runs go on unseen.
    pub fn hang(&self) {
        self.signal(Signal::USR1);
    }

    /// Out of hang mode (SIGUSR2).
    pub fn unhang(&self) {
        self.signal(Signal::USR2);
    }

    fn signal(&self, signal: Signal) {
        if let Some(child) = &self.child {
            let _ = kill_process(pid_of(child), signal);
        }
    }

    fn launch(&mut self) {
        let journal = self
            .dir
            .join(format!("{}-{}.jsonl", self.name, self.incarnations.len()));
        let mut command = Command::new(binaries().sim());
        command
            .arg("--instances")
            .arg("1")
            .arg("--base-port")
            .arg(self.port.to_string())
            .arg("--run-ms")
            .arg(self.run_ms.to_string())
            .arg("--journal")
            .arg(&journal)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        clean_env(&mut command);
        let mut child = command.spawn().expect("spawn godel-openclaw-sim");
        let stdout = child.stdout.take().expect("the simulator's stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Read every line (so the pipe never fills); the first one names the endpoint.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
            let _ = kill_process(pid_of(&child), Signal::KILL);
            panic!(
                "godel-openclaw-sim `{}` announced no endpoint within {START_TIMEOUT:?}",
                self.name
            )
        });
        self.port = announced_port(&line)
            .unwrap_or_else(|| panic!("unexpected first line of godel-openclaw-sim: {line}"));
        self.child = Some(child);
        self.incarnations.push(Incarnation {
            journal,
            ended_at_ms: None,
        });
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill_process(pid_of(&child), Signal::KILL);
            let _ = child.wait();
        }
    }
}

fn pid_of(child: &Child) -> Pid {
    let raw = i32::try_from(child.id()).expect("a PID fits in i32");
    Pid::from_raw(raw).expect("a child's PID is positive")
}

/// The port of `gateway 0 ws://127.0.0.1:PORT`.
fn announced_port(line: &str) -> Option<u16> {
    let endpoint = line.strip_prefix("gateway 0 ")?;
    endpoint.rsplit_once(':')?.1.trim().parse().ok()
}

/// A `godel.toml` registering `sims` as gateways taking `max_sessions` runs each.
#[must_use]
pub fn gateways_toml(sims: &[&SimProcess], max_sessions: u32) -> String {
    sims.iter()
        .map(|sim| {
            format!(
                "[[openclaw.gateways]]\nurl = \"{}\"\nmax_sessions = {max_sessions}\n\n",
                sim.endpoint()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_line_gives_the_port() {
        assert_eq!(
            announced_port("gateway 0 ws://127.0.0.1:41234"),
            Some(41234)
        );
        assert_eq!(announced_port("gateway 1 ws://127.0.0.1:41234"), None);
        assert_eq!(announced_port("INFO something"), None);
    }
}
