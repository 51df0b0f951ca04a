//! `--queued N`: the server's memory with N tasks waiting. The server runs with no gateway, so
//! nothing can claim the tasks and they stay due in the queue (not scheduled, not parked):
//! the state a backlog really is. The N submissions are sent closed loop by a fixed number of
//! workers (this measures memory, not latency: an open loop faster than the server would fill
//! it with waiting requests instead of queued tasks), the queue depth is read back until it
//! counts them, and the server's `VmRSS` and `VmHWM` are read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use crate::load::cluster::Cluster;
use crate::load::driver::Sample;
use crate::load::http::{Http, Outcome};
use crate::load::measure::{LatencySummary, mib};
use crate::load::report::QueuedReport;
use crate::procstat::ProcessSample;

/// How long the depth may take to count every accepted task once submissions ended.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Submits `n` tasks with `workers` concurrent submitters to `cluster` (which runs no
/// gateway) and reads its memory.
///
/// # Errors
/// When the server's memory cannot be read or the HTTP client cannot be built.
pub async fn measure(cluster: &Cluster, n: u64, workers: usize) -> Result<QueuedReport> {
    let http = Http::new(&cluster.url, &cluster.admin_key)?;
    let pid = cluster.server_pid();
    let before = ProcessSample::of(pid)?;
    let start = Instant::now();
    let samples = fill(&http, n, workers.max(1)).await;
    let submit_seconds = start.elapsed().as_secs_f64();
    let accepted = samples.iter().filter(|s| s.outcome == Outcome::Ok).count() as u64;
    let mut errors = BTreeMap::new();
    for kind in samples.iter().filter_map(|s| s.outcome.error_kind()) {
        *errors.entry(format!("submit_{kind}")).or_insert(0) += 1;
    }
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut depth = 0;
    while Instant::now() < deadline {
        match http.queue_depth().await {
            Ok(d) => {
                depth = d;
                if d >= accepted {
                    break;
                }
            }
            Err(_) => *errors.entry("depth_read".to_owned()).or_insert(0) += 1,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let queued = ProcessSample::of(pid)?;
    let latencies = samples
        .iter()
        .filter(|s| s.outcome == Outcome::Ok)
        .map(|s| s.latency)
        .collect();
    Ok(QueuedReport {
        workers,
        requested: n,
        accepted,
        queue_depth: depth,
        rss_before_mb: mib(before.rss_bytes),
        rss_queued_mb: mib(queued.rss_bytes),
        peak_rss_mb: mib(queued.peak_rss_bytes),
        submit_seconds: crate::report::round(submit_seconds, 1),
        api: LatencySummary::of(latencies),
        errors,
    })
}

/// Sends `n` submissions from `workers` loops, each sending its next one when the last
/// answered; every request's sample (latency from its send).
async fn fill(http: &Http, n: u64, workers: usize) -> Vec<Sample> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (http, next) = (http.clone(), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return samples;
                }
                let sent = Instant::now();
                let (outcome, _) = http.submit(i, false).await;
                samples.push(Sample {
                    due: Duration::ZERO,
                    latency: sent.elapsed(),
                    outcome,
                });
            }
        }));
    }
    let mut all = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all
}
