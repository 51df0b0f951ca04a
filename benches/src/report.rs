//! The JSON `godel-bench queue-workload` writes: the shape of `BENCH-WORKLOAD.md`, field for
//! field, so Godel's stores stand in one table with the job queues measured there.

use serde::Serialize;

use crate::params::Params;

/// One run of the queue workload against one store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Always `godel`.
    pub system: &'static str,
    /// The store: `memory`, `sqlite`, `postgres` or `redis`.
    pub backend: String,
    /// What the store is, with its version (`godel-queue 0.1.0 (in-process)`).
    pub backend_version: String,
    /// The version of `godel-bench`.
    pub version: String,
    /// How this run was set up, in words (runtimes, waiting strategy, what CPU counts).
    pub config: String,
    /// The workload's parameters.
    pub params: Params,
    /// Enqueue throughputs.
    pub enqueue: EnqueueReport,
    /// The drain phase.
    pub process: ProcessReport,
    /// The paced latency phase.
    pub latency: LatencyReport,
    /// The priority phase.
    pub priority: PriorityReport,
    /// Everything that went wrong or was cut short, in words; empty on a clean run.
    pub errors: Vec<String>,
}

/// Enqueues per second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct EnqueueReport {
    /// `drain`: N enqueued in chunks of `CHUNK`.
    pub bulk_per_s: f64,
    /// `enq_serial`: N single enqueues, each awaited.
    pub serial_per_s: f64,
    /// `enq_par`: N single enqueues, `PAR_INFLIGHT` in flight.
    pub par_per_s: f64,
}

/// The drain phase: workers at `CONCURRENCY` empty a queue of N jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcessReport {
    /// N / (first handler start → the store reports nothing waiting).
    pub per_s: f64,
    /// Whether the drain hit its deadline before the queue was empty.
    pub timed_out: bool,
    /// CPU of the worker, % of one core, over the drain.
    pub worker_cpu_pct: f64,
    /// Peak resident memory of the worker, MiB.
    pub worker_rss_mb: f64,
    /// CPU of the server, % of one core, over the drain.
    pub server_cpu_pct: f64,
}

/// The latency phase: handler start − enqueue stamp, over the measured jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencyReport {
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Largest, milliseconds.
    pub max_ms: f64,
    /// CPU of the server, % of one core, over the paced load.
    pub server_cpu_pct: f64,
}

/// The priority phase at concurrency 1 and at `CONCURRENCY`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PriorityReport {
    /// Drained by one worker.
    pub c1: PriorityC1,
    /// Drained by `CONCURRENCY` workers (the key is `c50` whatever `CONCURRENCY` is, as in
    /// `BENCH-WORKLOAD.md`; `params.concurrency` says what ran).
    pub c50: PriorityConcurrent,
}

/// Priority order at concurrency 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PriorityC1 {
    /// Jobs that started while a more urgent job had not.
    pub strict_violations: u64,
    /// Start records.
    pub started: u64,
    /// Enqueued jobs that never started.
    pub missing: u64,
    /// Start records beyond the first of their job.
    pub duplicates: u64,
}

/// Priority order at `CONCURRENCY`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PriorityConcurrent {
    /// Jobs that started while a more urgent job had not.
    pub strict_violations: u64,
    /// Jobs that started while a job `CONCURRENCY` (50) or more positions later was more urgent.
    pub windowed_violations: u64,
    /// Start records.
    pub started: u64,
}

impl Report {
    /// The report as pretty-printed JSON.
    ///
    /// # Panics
    /// Never: every field serialises (non-finite floats become `null`).
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}

/// Rounds to `digits` decimals, so the JSON shows measured precision rather than float noise.
#[must_use]
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_the_requested_decimals() {
        assert_eq!(round(1.23456, 3), 1.235);
        assert_eq!(round(98765.4321, 0), 98765.0);
    }
}
