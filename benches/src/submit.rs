//! `submit-latency`: the latency of a durable submit at a fixed rate.
//!
//! Open loop: submission `i` is sent at `start + i / rate` whether or not earlier ones have
//! returned (each runs as its own task), and its latency is counted from that scheduled time to
//! the store's answer, so a store that falls behind shows it instead of hiding it (no
//! coordinated omission). The first `warmup` seconds are sent but not measured. Nothing claims
//! the tasks: this measures the submit path alone.

use std::num::NonZero;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use godel_queue::{NewTask, Priority, QueueStore, TenantId};
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinSet;

use crate::report::round;
use crate::stats::percentile;
use crate::stores::OpenedStore;

/// How a submit-latency run is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SubmitParams {
    /// Submissions per second.
    pub rate: f64,
    /// Measured seconds.
    pub seconds: f64,
    /// Unmeasured seconds sent first.
    pub warmup: f64,
}

/// What a submit-latency run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubmitReport {
    /// The store (`--store`).
    pub backend: String,
    /// The store's version line.
    pub backend_version: String,
    /// The run's shape.
    pub params: SubmitParams,
    /// Measured submissions answered successfully.
    pub submitted: usize,
    /// Measured submissions per second actually completed.
    pub achieved_per_s: f64,
    /// Latency from scheduled send to answer, in ms.
    pub p50_ms: f64,
    /// 99th percentile, in ms.
    pub p99_ms: f64,
    /// Slowest, in ms.
    pub max_ms: f64,
    /// Failed submissions (first few messages).
    pub errors: Vec<String>,
}

/// Runs the submit-latency program against `opened`.
///
/// # Errors
/// When the rate or length are not positive, or a runtime cannot be built. Failed submissions
/// are counted in `errors`, not returned.
pub fn run(params: SubmitParams, opened: &OpenedStore) -> Result<SubmitReport> {
    anyhow::ensure!(
        params.rate > 0.0 && params.seconds > 0.0 && params.warmup >= 0.0,
        "rate and seconds must be positive and warmup not negative (got {params:?})"
    );
    let threads = std::thread::available_parallelism().map_or(2, NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("godel-submit")
        .enable_all()
        .build()
        .context("build the submit runtime")?;
    let tenant = TenantId::parse("bench").context("parse the bench tenant")?;
    let store = Arc::clone(&opened.store);
    let (latencies, errors, took) = runtime.block_on(send_all(store, tenant, params));
    let mut sorted = latencies;
    sorted.sort_unstable();
    let ms = |d: Option<Duration>| round(d.map_or(0.0, |d| d.as_secs_f64() * 1000.0), 3);
    Ok(SubmitReport {
        backend: opened.kind.as_str().to_owned(),
        backend_version: opened.backend_version.clone(),
        params,
        submitted: sorted.len(),
        achieved_per_s: round(sorted.len() as f64 / took.as_secs_f64().max(1e-9), 0),
        p50_ms: ms(percentile(&sorted, 50.0)),
        p99_ms: ms(percentile(&sorted, 99.0)),
        max_ms: ms(sorted.last().copied()),
        errors,
    })
}

/// Sends every submission on schedule; returns the measured latencies, the first errors and
/// how long the measured part took (first measured send to last measured answer).
async fn send_all(
    store: Arc<dyn QueueStore>,
    tenant: TenantId,
    params: SubmitParams,
) -> (Vec<Duration>, Vec<String>, Duration) {
    let interval = Duration::from_secs_f64(1.0 / params.rate);
    let warmup = (params.warmup * params.rate).round() as usize;
    let total = warmup + (params.seconds * params.rate).round() as usize;
    let start = tokio::time::Instant::now();
    let mut sent = JoinSet::new();
    for i in 0..total {
        let due = start + interval.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
        tokio::time::sleep_until(due).await;
        let store = Arc::clone(&store);
        let task = NewTask::new(tenant.clone(), json!({ "job": i, "pad": "x".repeat(160) }))
            .with_priority(Priority::ALL[i % 4]);
        let scheduled = due.into_std();
        sent.spawn(async move {
            let outcome = store.enqueue(task).await.map(drop);
            (i, scheduled, Instant::now(), outcome)
        });
    }
    let mut latencies = Vec::with_capacity(total - warmup);
    let mut errors = Vec::new();
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    while let Some(joined) = sent.join_next().await {
        match joined {
            Ok((i, scheduled, answered, outcome)) => {
                if i < warmup {
                    continue;
                }
                match outcome {
                    Ok(()) => {
                        latencies.push(answered.saturating_duration_since(scheduled));
                        first = Some(first.map_or(scheduled, |f| f.min(scheduled)));
                        last = Some(last.map_or(answered, |l| l.max(answered)));
                    }
                    Err(e) if errors.len() < 20 => errors.push(format!("submit {i}: {e}")),
                    Err(_) => {}
                }
            }
            Err(e) => errors.push(format!("submit task: {e}")),
        }
    }
    let took = first.zip(last).map_or(Duration::ZERO, |(f, l)| l - f);
    (latencies, errors, took)
}

impl SubmitReport {
    /// The report as pretty-printed JSON.
    ///
    /// # Panics
    /// Never: every field serialises.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}
