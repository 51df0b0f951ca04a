//! What `godel-bench load` reports: one [`RunReport`] per measured run (a profile run, or a
//! step of the saturation search), gathered in a [`LoadReport`] printed as a table and written
//! as JSON. [`RunReport::summarise`] turns what a run recorded into its numbers; it is pure, so
//! the window and counting rules are tested alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::load::driver::Sample;
use crate::load::http::Outcome;
use crate::load::listener::{EventKind, EventLog};
use crate::load::measure::{GatewayHealth, LatencySummary, Usage};
use crate::load::plan::Plan;
use crate::report::round;

/// One measured run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Its shape.
    pub plan: Plan,
    /// Task submissions offered per second (the plan's rate).
    pub offered_per_s: f64,
    /// Submissions answered 2xx per second, in the measured window.
    pub submitted_per_s: f64,
    /// Tasks completed per second, in the measured window.
    pub completed_per_s: f64,
    /// Latency of the submissions due in the window (due instant to answer).
    pub api: LatencySummary,
    /// Latency of the reads due in the window.
    pub reads: LatencySummary,
    /// `started_at − created_at` of the tasks created in the window.
    pub dispatch: LatencySummary,
    /// Receive instant − event timestamp of the events stamped in the window.
    pub ws_event: LatencySummary,
    /// Events received per second, stamped in the window.
    pub events_per_s: f64,
    /// CPU and memory.
    pub usage: Usage,
    /// The gateways as `/health` saw them.
    pub gateways: GatewayHealth,
    /// Submissions accepted over the whole run (warm-up included).
    pub accepted: u64,
    /// Tasks completed over the whole run.
    pub completed: u64,
    /// Accepted tasks that had neither completed nor failed when the run stopped waiting.
    pub unfinished: u64,
    /// Errors by kind, over the whole run.
    pub errors: BTreeMap<String, u64>,
    /// Failed requests / requests sent, over the whole run.
    pub error_rate: f64,
}

/// What a run recorded, for [`RunReport::summarise`].
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The submissions.
    pub submits: Vec<Sample>,
    /// The reads.
    pub reads: Vec<Sample>,
    /// The events.
    pub events: EventLog,
    /// CPU and memory over the window.
    pub usage: Usage,
    /// The gateways' health.
    pub gateways: GatewayHealth,
}

impl RunReport {
    /// The numbers of a run of `plan` that recorded `recorded`. The measured window is
    /// `[warmup, warmup + seconds)` from the run's start.
    #[must_use]
    pub fn summarise(plan: &Plan, recorded: Recorded) -> Self {
        let (from, to) = (plan.warmup, plan.warmup + plan.seconds);
        let within = |t: f64| t >= from && t < to;
        let per_s = |n: usize| round(n as f64 / plan.seconds.max(1e-9), 1);
        let mut errors = BTreeMap::new();
        let mut failed_requests = 0u64;
        for (stream, samples) in [("submit", &recorded.submits), ("read", &recorded.reads)] {
            for sample in samples {
                if let Some(kind) = sample.outcome.error_kind() {
                    *errors.entry(format!("{stream}_{kind}")).or_insert(0) += 1;
                    failed_requests += 1;
                }
            }
        }
        let ok_in_window = |samples: &[Sample]| {
            samples
                .iter()
                .filter(|s| s.outcome == Outcome::Ok && within(s.due.as_secs_f64()))
                .map(|s| s.latency)
                .collect::<Vec<_>>()
        };
        let api = ok_in_window(&recorded.submits);
        let reads = ok_in_window(&recorded.reads);
        let events = &recorded.events;
        for (kind, n) in &events.errors {
            *errors.entry(kind.clone()).or_insert(0) += n;
        }
        let mut dispatch = Vec::new();
        let (mut completed, mut failed, mut completed_in_window) = (0u64, 0u64, 0usize);
        for record in &events.records {
            match record.kind {
                EventKind::Started {
                    created_at,
                    dispatch_ms,
                } if within(created_at) => dispatch.push(dispatch_ms),
                EventKind::Completed => {
                    completed += 1;
                    completed_in_window += usize::from(within(record.at));
                }
                EventKind::Failed => failed += 1,
                _ => {}
            }
        }
        if failed > 0 {
            errors.insert("task_failed".to_owned(), failed);
        }
        let ws: Vec<f64> = events
            .records
            .iter()
            .filter(|r| within(r.at))
            .map(|r| r.delivery_ms)
            .collect();
        let events_in_window = ws.len();
        let accepted = recorded
            .submits
            .iter()
            .filter(|s| s.outcome == Outcome::Ok)
            .count() as u64;
        let sent = (recorded.submits.len() + recorded.reads.len()) as u64;
        Self {
            plan: *plan,
            offered_per_s: plan.rate,
            submitted_per_s: per_s(api.len()),
            completed_per_s: per_s(completed_in_window),
            api: LatencySummary::of(api),
            reads: LatencySummary::of(reads),
            dispatch: LatencySummary::of_ms(dispatch),
            ws_event: LatencySummary::of_ms(ws),
            events_per_s: per_s(events_in_window),
            usage: recorded.usage,
            gateways: recorded.gateways,
            accepted,
            completed,
            unfinished: accepted.saturating_sub(completed + failed),
            errors,
            error_rate: if sent == 0 {
                0.0
            } else {
                round(failed_requests as f64 / sent as f64, 5)
            },
        }
    }

    /// Errors of every kind, summed.
    #[must_use]
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The host a report was measured on, as far as the load generator can tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Host {
    /// CPUs this process may use.
    pub cpus: usize,
    /// `/proc/loadavg` before the run.
    pub loadavg_before: String,
    /// `/proc/loadavg` after the run.
    pub loadavg_after: String,
}

impl Host {
    /// The CPU count and the load average now (`loadavg_after` is filled by [`Host::done`]).
    #[must_use]
    pub fn now() -> Self {
        Self {
            cpus: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            loadavg_before: loadavg(),
            loadavg_after: String::new(),
        }
    }

    /// Records the load average at the end.
    pub fn done(&mut self) {
        self.loadavg_after = loadavg();
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The saturation search's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SaturationSummary {
    /// The highest offered rate whose step held every rule, tasks/s (0 when none did).
    pub max_sustainable_per_s: f64,
    /// Why the search stopped.
    pub stopped_because: String,
}

/// Server memory with tasks waiting (`--queued`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuedReport {
    /// Tasks submitted.
    pub requested: u64,
    /// Concurrent submitters (closed loop).
    pub workers: usize,
    /// Tasks accepted (2xx).
    pub accepted: u64,
    /// Due tasks the server counted once submissions ended.
    pub queue_depth: u64,
    /// Server resident memory before submitting, MiB.
    pub rss_before_mb: f64,
    /// Server resident memory with the tasks queued, MiB.
    pub rss_queued_mb: f64,
    /// Server peak resident memory (`VmHWM`), MiB.
    pub peak_rss_mb: f64,
    /// Seconds the submissions took.
    pub submit_seconds: f64,
    /// Submission latency.
    pub api: LatencySummary,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
}

/// Everything one `godel-bench load` invocation measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    /// `profile`, `saturation` or `queued`.
    pub mode: String,
    /// The profile (10, 25 or 50).
    pub profile: u32,
    /// `embedded` or `pg-redis`.
    pub backend: String,
    /// The command line that produced it.
    pub command: String,
    /// The version of `godel-bench`.
    pub version: String,
    /// The machine.
    pub host: Host,
    /// The measured runs (one, or one per saturation step).
    pub runs: Vec<RunReport>,
    /// The saturation search's outcome, when one ran.
    pub saturation: Option<SaturationSummary>,
    /// The queued-memory measurement, when one ran.
    pub queued: Option<QueuedReport>,
}

impl LoadReport {
    /// The report as pretty-printed JSON.
    ///
    /// # Panics
    /// Never: every field serialises (non-finite floats become `null`).
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// The report as a text table, one row per run, then the summaries.
    #[must_use]
    pub fn table(&self) -> String {
        let mut out = format!(
            "godel-bench load: mode {}, profile {}, backend {}, {} CPUs, load average {} -> {}\n",
            self.mode,
            self.profile,
            self.backend,
            self.host.cpus,
            self.host.loadavg_before,
            self.host.loadavg_after
        );
        if !self.runs.is_empty() {
            let _ = writeln!(
                out,
                "{:>8} {:>8} {:>8} | {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} | {:>7} {:>7} | {:>7} | {:>8} | {:>5} {:>7} {:>6} | {:>5} | {:>6}",
                "offered",
                "subm/s",
                "done/s",
                "api50",
                "api95",
                "api99",
                "disp50",
                "disp95",
                "disp99",
                "ws50",
                "ws99",
                "read99",
                "events/s",
                "cpu",
                "rss",
                "peak",
                "gw ok",
                "errors"
            );
            for r in &self.runs {
                let gateways = if r.gateways.all_healthy() {
                    format!("{}", r.gateways.min_healthy)
                } else {
                    format!("{}!", r.gateways.min_healthy)
                };
                let _ = writeln!(
                    out,
                    "{:>8.0} {:>8.1} {:>8.1} | {:>7.2} {:>7.2} {:>7.2} | {:>7.2} {:>7.2} {:>7.2} | {:>7.2} {:>7.2} | {:>7.2} | {:>8.0} | {:>5.2} {:>7.1} {:>6.1} | {:>5} | {:>6}",
                    r.offered_per_s,
                    r.submitted_per_s,
                    r.completed_per_s,
                    r.api.p50_ms,
                    r.api.p95_ms,
                    r.api.p99_ms,
                    r.dispatch.p50_ms,
                    r.dispatch.p95_ms,
                    r.dispatch.p99_ms,
                    r.ws_event.p50_ms,
                    r.ws_event.p99_ms,
                    r.reads.p99_ms,
                    r.events_per_s,
                    r.usage.server_cpu_cores,
                    r.usage.server_rss_mb,
                    r.usage.server_peak_rss_mb,
                    gateways,
                    r.error_count()
                );
            }
            let _ = writeln!(
                out,
                "(latencies in ms; cpu in cores of the server; rss/peak in MiB; gw ok = fewest \
                 healthy gateways seen, ! when fewer than started)"
            );
            for (i, r) in self.runs.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "run {i}: {} gateways, run {} ms, {} sessions each; accepted {}, completed {}, \
                     unfinished {}; sim cpu {:.2}, bench cpu {:.2} cores; errors {:?}",
                    r.plan.gateways,
                    r.plan.run_ms,
                    r.plan.max_sessions,
                    r.accepted,
                    r.completed,
                    r.unfinished,
                    r.usage.sim_cpu_cores,
                    r.usage.bench_cpu_cores,
                    r.errors
                );
            }
        }
        if let Some(s) = &self.saturation {
            let _ = writeln!(
                out,
                "saturation: max sustainable {:.0} tasks/s; stopped because {}",
                s.max_sustainable_per_s, s.stopped_because
            );
        }
        if let Some(q) = &self.queued {
            let _ = writeln!(
                out,
                "queued: {} requested, {} accepted, depth {}; server RSS {:.1} MiB before, {:.1} \
                 MiB queued, peak {:.1} MiB; submitted in {:.1} s by {} workers (api p99 {:.2} ms); \
                 errors {:?}",
                q.requested,
                q.accepted,
                q.queue_depth,
                q.rss_before_mb,
                q.rss_queued_mb,
                q.peak_rss_mb,
                q.submit_seconds,
                q.workers,
                q.api.p99_ms,
                q.errors
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::load::listener::EventRecord;

    fn plan() -> Plan {
        Plan {
            gateways: 2,
            rate: 10.0,
            reads_per_s: 0.0,
            run_ms: 100,
            max_sessions: 2,
            seconds: 2.0,
            warmup: 1.0,
        }
    }

    fn sample(due_s: f64, latency_ms: u64, outcome: Outcome) -> Sample {
        Sample {
            due: Duration::from_secs_f64(due_s),
            latency: Duration::from_millis(latency_ms),
            outcome,
        }
    }

    fn event(at: f64, kind: EventKind) -> EventRecord {
        EventRecord {
            at,
            delivery_ms: 1.0,
            kind,
        }
    }

    #[test]
    fn only_the_measured_window_counts_for_rates_and_latencies() {
        let recorded = Recorded {
            submits: vec![
                sample(0.5, 100, Outcome::Ok), // warm-up: accepted, not measured
                sample(1.0, 4, Outcome::Ok),
                sample(2.9, 6, Outcome::Ok),
                sample(3.0, 9, Outcome::Ok), // after the window
                sample(1.5, 0, Outcome::Status(500)),
                sample(1.6, 0, Outcome::Overflow),
            ],
            events: EventLog {
                records: vec![
                    event(
                        0.6,
                        EventKind::Started {
                            created_at: 0.5,
                            dispatch_ms: 50.0,
                        },
                    ),
                    event(
                        1.1,
                        EventKind::Started {
                            created_at: 1.0,
                            dispatch_ms: 3.0,
                        },
                    ),
                    event(1.2, EventKind::Completed),
                    event(3.1, EventKind::Completed),
                    event(2.0, EventKind::Failed),
                ],
                errors: BTreeMap::from([("ws_closed".to_owned(), 1)]),
            },
            ..Recorded::default()
        };
        let r = RunReport::summarise(&plan(), recorded);
        assert_eq!(r.api.count, 2);
        assert_eq!(r.api.max_ms, 6.0);
        assert_eq!(r.submitted_per_s, 1.0, "2 accepted in a 2 s window");
        assert_eq!(r.completed_per_s, 0.5);
        assert_eq!(r.dispatch.count, 1, "the warm-up task is not measured");
        assert_eq!(r.dispatch.p99_ms, 3.0);
        assert_eq!(r.events_per_s, 1.5, "3 events stamped in the window");
        assert_eq!((r.accepted, r.completed, r.unfinished), (4, 2, 1));
        assert_eq!(
            r.errors,
            BTreeMap::from([
                ("submit_http_500".to_owned(), 1),
                ("submit_in_flight_overflow".to_owned(), 1),
                ("task_failed".to_owned(), 1),
                ("ws_closed".to_owned(), 1),
            ])
        );
        assert_eq!(r.error_count(), 4);
        assert!((r.error_rate - 2.0 / 6.0).abs() < 1e-4, "{}", r.error_rate);
    }

    #[test]
    fn the_json_has_the_fields_the_benchmarks_page_reads() {
        let run = RunReport::summarise(&plan(), Recorded::default());
        let report = LoadReport {
            mode: "profile".into(),
            profile: 10,
            backend: "embedded".into(),
            command: "godel-bench load".into(),
            version: "0.1.0".into(),
            host: Host::now(),
            runs: vec![run],
            saturation: Some(SaturationSummary {
                max_sustainable_per_s: 400.0,
                stopped_because: "x".into(),
            }),
            queued: None,
        };
        let json: Value = serde_json::from_str(&report.to_json()).unwrap();
        let r = &json["runs"][0];
        for field in [
            "offered_per_s",
            "submitted_per_s",
            "completed_per_s",
            "events_per_s",
            "error_rate",
            "unfinished",
        ] {
            assert!(r[field].is_number(), "{field}: {r}");
        }
        for latency in ["api", "reads", "dispatch", "ws_event"] {
            for p in ["p50_ms", "p95_ms", "p99_ms", "max_ms", "count"] {
                assert!(r[latency][p].is_number(), "{latency}.{p}: {r}");
            }
        }
        for usage in ["server_cpu_cores", "server_rss_mb", "server_peak_rss_mb"] {
            assert!(r["usage"][usage].is_number(), "{usage}");
        }
        assert!(r["gateways"]["min_healthy"].is_number());
        assert!(r["errors"].is_object());
        assert_eq!(json["saturation"]["max_sustainable_per_s"], 400.0);
        assert!(json["queued"].is_null());
        assert_eq!(json["host"]["cpus"], report.host.cpus);
        let table = report.table();
        assert!(
            table.contains("saturation: max sustainable 400 tasks/s"),
            "{table}"
        );
        assert_eq!(
            table.lines().filter(|l| l.contains(" | ")).count(),
            2,
            "{table}"
        );
    }
}
