//! Reading the simulators' run journals (one JSON line per run start and end, written by
//! `godel-openclaw-sim --journal`) and checking, from this gateway-side ground truth, that no
//! task ever had two runs at once.
//!
//! Godel names a run `godel-<task id>-<lease fence>`, so the task of every run is known. A run's
//! span is `[start, end)`; a run without an end line ends when its incarnation was killed, or is
//! still open (and overlaps everything after its start).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::chaos::sims::Incarnation;

/// One run as the gateway saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpan {
    /// The run id (`godel-<task>-<fence>`).
    pub run: String,
    /// The task it belongs to (from the run id).
    pub task: String,
    /// The gateway (`127.0.0.1:PORT`) that ran it.
    pub gateway: String,
    /// When the gateway accepted it (Unix ms).
    pub start_ms: u64,
    /// When it ended: its end line, else its gateway's kill; `None`: still open.
    pub end_ms: Option<u64>,
    /// `ok`, `error`, `aborted`, or `killed` (its gateway died under it); `None`: still open.
    pub outcome: Option<String>,
}

impl RunSpan {
    /// Whether the two spans share an instant (touching ends do not count).
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        let ends_after = |span: &Self, start: u64| span.end_ms.is_none_or(|end| end > start);
        ends_after(self, other.start_ms) && ends_after(other, self.start_ms)
    }
}

/// What the journals say about the runs of a scenario.
#[derive(Debug, Clone, Default)]
pub struct JournalReport {
    /// Every run, by start.
    pub runs: Vec<RunSpan>,
    /// Pairs of runs of one task that overlapped in time: each pair is a task that ran twice at
    /// once (must stay empty).
    pub overlaps: Vec<(RunSpan, RunSpan)>,
}

impl JournalReport {
    /// Reads the journals of `incarnations` (a missing journal has no runs).
    ///
    /// # Panics
    /// When a journal line is not the JSON the simulator writes.
    #[must_use]
    pub fn read<'a>(incarnations: impl IntoIterator<Item = &'a Incarnation>) -> Self {
        let mut runs = Vec::new();
        for incarnation in incarnations {
            runs.extend(read_one(&incarnation.journal, incarnation.ended_at_ms));
        }
        runs.sort_by_key(|r| r.start_ms);
        let overlaps = overlapping(&runs);
        Self { runs, overlaps }
    }

    /// The runs of `task`, by start.
    #[must_use]
    pub fn runs_of(&self, task: &str) -> Vec<&RunSpan> {
        self.runs.iter().filter(|r| r.task == task).collect()
    }

    /// How many tasks had more than one run (retries, failovers, re-runs after a crash).
    #[must_use]
    pub fn tasks_run_more_than_once(&self) -> usize {
        let mut per_task: HashMap<&str, usize> = HashMap::new();
        for run in &self.runs {
            *per_task.entry(&run.task).or_default() += 1;
        }
        per_task.values().filter(|n| **n > 1).count()
    }

    /// How many tasks completed (`ok`) more than once on the gateways: a run re-done after its
    /// success was lost (at-least-once delivery), reported, not a double run at once.
    #[must_use]
    pub fn tasks_completed_more_than_once(&self) -> usize {
        let mut per_task: HashMap<&str, usize> = HashMap::new();
        for run in self
            .runs
            .iter()
            .filter(|r| r.outcome.as_deref() == Some("ok"))
        {
            *per_task.entry(&run.task).or_default() += 1;
        }
        per_task.values().filter(|n| **n > 1).count()
    }

    /// The overlapping pairs, one line each, for a failure message.
    #[must_use]
    pub fn describe_overlaps(&self) -> String {
        self.overlaps
            .iter()
            .map(|(a, b)| format!("task {}: {a:?} and {b:?}", a.task))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The task of run `godel-<task uuid>-<fence>`.
#[must_use]
pub fn task_of(run: &str) -> Option<&str> {
    let rest = run.strip_prefix("godel-")?;
    let (task, fence) = rest.rsplit_once('-')?;
    fence.parse::<u64>().ok().map(|_| task)
}

fn read_one(path: &Path, killed_at: Option<u64>) -> Vec<RunSpan> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut open: BTreeMap<String, RunSpan> = BTreeMap::new();
    let mut done = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("{}: a line that is not JSON ({e}): {line}", path.display())
        });
        let run = entry["run"].as_str().unwrap_or_default().to_owned();
        let at = entry["at_ms"].as_u64().unwrap_or_default();
        match entry["event"].as_str() {
            Some("start") => {
                let span = RunSpan {
                    task: task_of(&run).unwrap_or(&run).to_owned(),
                    run: run.clone(),
                    gateway: entry["gateway"].as_str().unwrap_or_default().to_owned(),
                    start_ms: at,
                    end_ms: None,
                    outcome: None,
                };
                open.insert(run, span);
            }
            Some("end") => {
                if let Some(mut span) = open.remove(&run) {
                    span.end_ms = Some(at);
                    span.outcome = entry["outcome"].as_str().map(str::to_owned);
                    done.push(span);
                }
            }
            _ => panic!("{}: an unknown journal line: {line}", path.display()),
        }
    }
    done.extend(open.into_values().map(|mut span| {
        if let Some(at) = killed_at {
            span.end_ms = Some(at);
            span.outcome = Some("killed".to_owned());
        }
        span
    }));
    done
}

fn overlapping(runs: &[RunSpan]) -> Vec<(RunSpan, RunSpan)> {
    let mut per_task: HashMap<&str, Vec<&RunSpan>> = HashMap::new();
    for run in runs {
        per_task.entry(&run.task).or_default().push(run);
    }
    let mut found = Vec::new();
    for spans in per_task.values() {
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                if a.overlaps(b) {
                    found.push(((*a).clone(), (*b).clone()));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(run: &str, start_ms: u64, end_ms: Option<u64>) -> RunSpan {
        RunSpan {
            run: run.to_owned(),
            task: task_of(run).unwrap_or(run).to_owned(),
            gateway: "g".to_owned(),
            start_ms,
            end_ms,
            outcome: None,
        }
    }

    #[test]
    fn a_run_id_names_its_task() {
        let task = "0199a8e4-8d1c-7c3e-9f00-1234567890ab";
        assert_eq!(task_of(&format!("godel-{task}-7")), Some(task));
        assert_eq!(task_of("other-run"), None);
        assert_eq!(task_of(&format!("godel-{task}-x")), None);
    }

    #[test]
    fn spans_overlap_when_they_share_an_instant_and_open_ones_never_end() {
        let a = span("godel-t-1", 100, Some(200));
        assert!(a.overlaps(&span("godel-t-2", 150, Some(300))));
        assert!(!a.overlaps(&span("godel-t-2", 200, Some(300))), "touching");
        assert!(a.overlaps(&span("godel-t-2", 50, None)));
        assert!(!a.overlaps(&span("godel-t-2", 250, None)));
    }

    #[test]
    fn journals_are_read_with_killed_runs_ending_at_the_kill() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("j.jsonl");
        let lines = [
            r#"{"event":"start","run":"godel-a-1","gateway":"g1","at_ms":10}"#,
            r#"{"event":"start","run":"godel-b-1","gateway":"g1","at_ms":11}"#,
            r#"{"event":"end","run":"godel-a-1","outcome":"ok","gateway":"g1","at_ms":20}"#,
        ];
        std::fs::write(&path, lines.join("\n")).expect("write");
        let other = dir.path().join("k.jsonl");
        std::fs::write(
            &other,
            r#"{"event":"start","run":"godel-b-2","gateway":"g2","at_ms":40}"#,
        )
        .expect("write");
        let report = JournalReport::read(&[
            Incarnation {
                journal: path,
                ended_at_ms: Some(30),
            },
            Incarnation {
                journal: other,
                ended_at_ms: None,
            },
        ]);
        assert_eq!(report.runs.len(), 3);
        let b = report.runs_of("b");
        assert_eq!(b[0].end_ms, Some(30));
        assert_eq!(b[0].outcome.as_deref(), Some("killed"));
        assert_eq!(b[1].end_ms, None);
        assert!(report.overlaps.is_empty(), "{}", report.describe_overlaps());
        assert_eq!(report.tasks_run_more_than_once(), 1);
    }
}
