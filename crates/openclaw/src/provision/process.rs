//! One gateway process: spawned as the leader of its own process group (so its children can be
//! found and stopped with it), stopped with SIGTERM then SIGKILL (through the `kill` command:
//! the workspace has no signal crate and forbids `unsafe`), and measured from `/proc`.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a stopping process is looked at.
const POLL: Duration = Duration::from_millis(50);

/// How long a killed process may take to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// A running gateway process (or one that just ended), with its memory peaks so far.
///
/// Dropping one that still runs kills its process group (unless [detached](Self::detach)): a
/// cancelled stop never leaves a stray gateway.
#[derive(Debug)]
pub(crate) struct GatewayProcess {
    child: Child,
    pid: u32,
    exited: Option<ExitStatus>,
    detached: bool,
    peak_rss: u64,
    peak_children_rss: u64,
}

/// Memory peaks, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RssPeaks {
    /// The gateway process's own peak (`VmHWM`).
    pub(crate) main: u64,
    /// The sum of its children's peaks (other members of its process group).
    pub(crate) children: u64,
}

impl GatewayProcess {
    /// Spawns `command` as the leader of a new process group, stdin closed, stdout and stderr
    /// appended to `log` (discarded without one).
    pub(crate) fn spawn(mut command: Command, log: Option<&Path>) -> io::Result<Self> {
        let (out, err) = match log {
            Some(log) => {
                let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
                let err = out.try_clone()?;
                (Stdio::from(out), Stdio::from(err))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()?;
        let pid = child.id();
        Ok(Self {
            child,
            pid,
            exited: None,
            detached: false,
            peak_rss: 0,
            peak_children_rss: 0,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status, once the process has ended (reaps it).
    pub(crate) fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Samples `/proc` and returns the peaks seen so far.
    pub(crate) fn sample_rss(&mut self) -> RssPeaks {
        if self.exited.is_none() && !leader_gone(self.pid) {
            self.peak_rss = self.peak_rss.max(vm_hwm(self.pid).unwrap_or(0));
            let children: u64 = group_members(self.pid)
                .into_iter()
                .filter(|&pid| pid != self.pid)
                .filter_map(vm_hwm)
                .sum();
            self.peak_children_rss = self.peak_children_rss.max(children);
        }
        RssPeaks {
            main: self.peak_rss,
            children: self.peak_children_rss,
        }
    }

    /// SIGTERM to the gateway, up to `grace` for it to end, then SIGKILL to its whole group;
    /// children left behind are killed too. Returns whether it ended within the grace period.
    pub(crate) async fn terminate(&mut self, grace: Duration) -> bool {
        if self.exited.is_some() {
            return true;
        }
        self.sample_rss();
        let _ = signal("TERM", &self.pid.to_string());
        let deadline = Instant::now() + grace;
        while !leader_gone(self.pid) && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        let clean = leader_gone(self.pid);
        self.kill_group();
        let deadline = Instant::now() + KILL_WAIT;
        while self.try_exit().is_none() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        clean
    }

    /// SIGKILL to the whole group now (no SIGTERM first: a crash, not a stop), then reaps the
    /// leader.
    pub(crate) async fn kill(&mut self) {
        if self.exited.is_some() {
            return;
        }
        self.sample_rss();
        self.kill_group();
        let deadline = Instant::now() + KILL_WAIT;
        while self.try_exit().is_none() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGKILL to the whole group now, then reaps the leader (waiting a few seconds at most,
    /// without a runtime: usable in `Drop`).
    pub(crate) fn kill_blocking(&mut self) {
        if self.exited.is_some() {
            return;
        }
        self.kill_group();
        let deadline = Instant::now() + KILL_WAIT;
        while self.try_exit().is_none() && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }

    /// SIGTERM to the gateway now, without waiting (the first half of a stop in `Drop`).
    pub(crate) fn request_stop(&self) {
        if self.exited.is_none() {
            let _ = signal("TERM", &self.pid.to_string());
        }
    }

    /// Whether the leader has ended (running no more, possibly not yet reaped).
    pub(crate) fn ended(&self) -> bool {
        self.exited.is_some() || leader_gone(self.pid)
    }

    /// Lets the process run on after this handle is dropped.
    pub(crate) fn detach(mut self) {
        self.detached = true;
    }

    /// SIGKILL to every member of the group. Only while the leader is not reaped: until then
    /// its PID, which is the group's id, cannot name another group.
    fn kill_group(&mut self) {
        if self.exited.is_none() {
            let _ = signal("KILL", &format!("-{}", self.pid));
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if !self.detached {
            self.kill_blocking();
        }
    }
}

/// Runs `kill -s <signal> -- <target>` (a negative target names a process group).
fn signal(signal: &str, target: &str) -> io::Result<ExitStatus> {
    let kill = if Path::new("/bin/kill").exists() {
        "/bin/kill"
    } else {
        "kill"
    };
    Command::new(kill)
        .args(["-s", signal, "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}

/// Whether `pid` has exited: gone from `/proc` or a zombie.
fn leader_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_fields(&stat).is_some_and(|(state, _)| state == 'Z'),
        Err(_) => true,
    }
}

/// The state and process group of a `/proc/<pid>/stat` line (fields 3 and 5; the command name
/// in field 2 may contain spaces and parentheses, so parsing starts after its last `)`).
fn stat_fields(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// The live members of process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat_fields(&stat))
                .is_some_and(|(state, pgrp)| pgrp == pgid && state != 'Z')
        })
        .collect()
}

/// The peak resident set size of `pid` in bytes (`VmHWM` of `/proc/<pid>/status`).
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let stat = "4242 (open claw) (x)) S 1 4242 4242 0 -1 4194560 0 0";
        assert_eq!(stat_fields(stat), Some(('S', 4242)));
        assert_eq!(stat_fields("garbage"), None);
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        assert!(vm_hwm(std::process::id()).is_some_and(|b| b > 0));
        assert!(!leader_gone(std::process::id()));
    }

    #[tokio::test]
    async fn a_process_and_its_children_are_measured_and_stopped() {
        let log = std::env::temp_dir().join(format!("godel-process-{}.log", std::process::id()));
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30; wait"]);
        let mut process = GatewayProcess::spawn(command, Some(&log)).expect("spawn sh");
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_members(process.pid()).len() < 3 && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        let members = group_members(process.pid());
        assert_eq!(members.len(), 3, "sh and two sleeps: {members:?}");
        let peaks = process.sample_rss();
        assert!(peaks.main > 0 && peaks.children > 0, "{peaks:?}");
        // sh ignores nothing: SIGTERM ends it, the orphaned sleeps are swept by SIGKILL.
        assert!(process.terminate(Duration::from_secs(5)).await);
        assert!(process.try_exit().is_some());
        let deadline = Instant::now() + Duration::from_secs(5);
        while members.iter().any(|&p| !leader_gone(p)) && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        assert!(members.iter().all(|&p| leader_gone(p)), "a child survived");
        let _ = fs::remove_file(log);
    }
}
