//! One measured run against a started [`Cluster`]: subscribe to events, start the health
//! monitor, send the submissions and reads open loop, read CPU and memory at the edges of the
//! measured window, then wait for the accepted tasks to end (bounded) and summarise.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::load::cluster::Cluster;
use crate::load::driver::{self, RecentTasks, Traffic};
use crate::load::http::{Http, Outcome};
use crate::load::listener::Listener;
use crate::load::measure::{HealthMonitor, UsageMark};
use crate::load::plan::{Plan, Schedule};
use crate::load::report::{Recorded, RunReport};

/// Every event: what the profiles count.
pub const ALL_EVENTS: &[&str] = &["*"];

/// How long after the last send the run waits for accepted tasks to end, beyond one run length.
const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// Runs `plan` against `cluster`, listening to the events named by `patterns`.
///
/// # Errors
/// When the event subscription cannot be made or the HTTP client cannot be built; failed
/// requests are counted in the report instead.
pub async fn measure(cluster: &Cluster, plan: &Plan, patterns: &[&str]) -> Result<RunReport> {
    let http = Http::new(&cluster.url, &cluster.admin_key)?;
    let lead = Duration::from_millis(300);
    let start = Instant::now() + lead;
    let start_wall = OffsetDateTime::now_utc() + lead;
    let listener = Listener::start(&cluster.url, &cluster.admin_key, patterns, start_wall).await?;
    let monitor = HealthMonitor::start(http.clone(), plan.gateways as u32);
    let total = plan.warmup + plan.seconds;
    let recent = Arc::new(RecentTasks::default());
    let submits = tokio::spawn(driver::drive(
        http.clone(),
        Traffic::Submit,
        Schedule::new(plan.rate, total),
        start,
        Arc::clone(&recent),
    ));
    let reads = tokio::spawn(driver::drive(
        http.clone(),
        Traffic::Reads,
        Schedule::new(plan.reads_per_s, total),
        start,
        recent,
    ));
    let (server, sim) = (cluster.server_pid(), cluster.sim_pid());
    tokio::time::sleep_until(start + Duration::from_secs_f64(plan.warmup)).await;
    let from = UsageMark::now(server, sim);
    tokio::time::sleep_until(start + Duration::from_secs_f64(total)).await;
    let usage = from.until(&UsageMark::now(server, sim));
    let submits = submits.await.unwrap_or_default();
    let reads = reads.await.unwrap_or_default();
    let accepted = submits.iter().filter(|s| s.outcome == Outcome::Ok).count() as u64;
    let drain_until =
        tokio::time::Instant::now() + Duration::from_millis(plan.run_ms) + DRAIN_LIMIT;
    while listener.progress.ended() < accepted && tokio::time::Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gateways = monitor.finish().await;
    let events = listener.finish().await;
    Ok(RunReport::summarise(
        plan,
        Recorded {
            submits,
            reads,
            events,
            usage,
            gateways,
        },
    ))
}
