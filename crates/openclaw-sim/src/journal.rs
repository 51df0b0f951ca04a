//! [`RunJournal`]: an append-only JSON-lines record of every run's start and end, the gateway-side
//! ground truth the chaos tests read to check that no task ever ran twice at once.
//!
//! One line per event, written with a single `write` on a file opened in append mode, so several
//! gateway processes may share one file and a line is never torn by a concurrent writer:
//!
//! ```text
//! {"event":"start","run":"godel-<task>-<fence>","session":"agent:main:…","message":"…","gateway":"127.0.0.1:4100","at_ms":1760000000000}
//! {"event":"end","run":"godel-<task>-<fence>","outcome":"ok","gateway":"127.0.0.1:4100","at_ms":1760000000020}
//! ```
//!
//! `at_ms` is wall-clock Unix time in milliseconds (comparable across processes on one machine).
//! A run is journalled as started when the gateway accepts it (queued runs included, which only
//! widens its interval) and as ended when it becomes terminal (`ok`, `error` or `aborted`). A run
//! of a gateway that was killed has no end line: its end is the kill.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::frames::now_ms;
use crate::gateway::lock;

/// A shared handle on a journal file; cloning it shares the file.
#[derive(Clone)]
pub struct RunJournal {
    path: PathBuf,
    file: Arc<Mutex<File>>,
    /// The address of the gateway writing through this handle (`""` until set).
    gateway: String,
}

impl std::fmt::Debug for RunJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunJournal")
            .field("path", &self.path)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl RunJournal {
    /// Opens `path` for appending, creating it if needed.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            file: Arc::new(Mutex::new(file)),
            gateway: String::new(),
        })
    }

    /// The same journal, its lines naming `gateway` (an address) as their writer.
    pub(crate) fn for_gateway(&self, gateway: impl Into<String>) -> Self {
        Self {
            gateway: gateway.into(),
            ..self.clone()
        }
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the gateway accepted run `run` in `session` with `message`.
    pub(crate) fn started(&self, run: &str, session: &str, message: &str) {
        self.append(&json!({
            "event": "start", "run": run, "session": session, "message": message,
            "gateway": self.gateway, "at_ms": now_ms(),
        }));
    }

    /// Records that run `run` became terminal with `outcome` (`ok`, `error`, `aborted`).
    pub(crate) fn ended(&self, run: &str, outcome: &str) {
        self.append(&json!({
            "event": "end", "run": run, "outcome": outcome, "gateway": self.gateway,
            "at_ms": now_ms(),
        }));
    }

    /// Appends one line; a failed write is logged, never fatal (the journal is a test aid).
    fn append(&self, line: &Value) {
        let mut text = line.to_string();
        text.push('\n');
        if let Err(e) = lock(&self.file).write_all(text.as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, "run journal write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_and_ends_are_appended_as_json_lines_naming_the_gateway() {
        let path =
            std::env::temp_dir().join(format!("godel-sim-journal-{}.jsonl", uuid::Uuid::now_v7()));
        let journal = RunJournal::open(&path).unwrap().for_gateway("127.0.0.1:1");
        journal.started("run-1", "agent:main:s", "hello");
        journal.ended("run-1", "ok");
        // A second handle on the same file appends after the first.
        RunJournal::open(&path).unwrap().ended("run-2", "aborted");
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["event"], "start");
        assert_eq!(lines[0]["run"], "run-1");
        assert_eq!(lines[0]["session"], "agent:main:s");
        assert_eq!(lines[0]["message"], "hello");
        assert_eq!(lines[0]["gateway"], "127.0.0.1:1");
        assert_eq!(lines[1]["event"], "end");
        assert_eq!(lines[1]["outcome"], "ok");
        assert!(lines[1]["at_ms"].as_u64() >= lines[0]["at_ms"].as_u64());
        assert_eq!(lines[2]["run"], "run-2");
        assert_eq!(lines[2]["gateway"], "");
    }
}
