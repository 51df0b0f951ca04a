//! `godel-bench load`: Godel's load generator (issue #7). It starts `godel-server` (embedded
//! store, or Postgres + Redis) and N simulated gateways as processes of their own, drives the
//! server over HTTP open loop from this process, and reports submitted/s, completed/s, API,
//! dispatch and WebSocket event latencies, events/s, the server's CPU and memory, the
//! gateways' health and errors, as a table, JSON and an SVG chart.
//!
//! Three modes: a profile run (PRD NFR-2: 10, 25 or 50 sessions), the saturation search
//! ([`saturation`]) and the queued-memory measurement ([`queued`]).
//!
//! Modules: [`plan`] (profiles, plan, schedule), [`process`] and [`cluster`] (the processes),
//! [`http`] and [`driver`] (open-loop requests), [`listener`] (events), [`measure`] (latency
//! summaries, CPU and memory, gateway health), [`mod@run`] (one measured run), [`report`] and
//! [`chart`] (the outputs).

pub mod chart;
pub mod cluster;
pub mod driver;
pub mod http;
pub mod listener;
pub mod measure;
pub mod plan;
pub mod process;
pub mod queued;
pub mod report;
pub mod run;
pub mod saturation;

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use self::cluster::{Cluster, ClusterSpec};
use self::plan::{Backend, Overrides, Plan, Profile};
use self::report::{Host, LoadReport, SaturationSummary};
use self::saturation::Rules;

/// The simulated run length of the saturation search unless `--run-ms` says otherwise: short,
/// so the search measures accepting and dispatching rather than the simulator's concurrency.
pub const SATURATION_RUN_MS: u64 = 100;

/// Concurrent submitters of `--queued`.
const QUEUED_WORKERS: usize = 32;

/// The events a saturation step listens to: those it measures.
const SATURATION_EVENTS: &[&str] = &[
    "task.started",
    "task.completed",
    "task.failed",
    "task.dead_lettered",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The profile: 10, 25 or 50.
    pub profile: u32,
    /// The server's store.
    pub backend: Backend,
    /// Measured seconds (per step for the saturation search).
    pub seconds: f64,
    /// Unmeasured seconds first.
    pub warmup: f64,
    /// Changes to the profile.
    pub overrides: Overrides,
    /// Run the saturation search, × `factor` per step up to `max_rate`.
    pub saturation: bool,
    /// Rate factor per saturation step.
    pub factor: f64,
    /// Highest saturation rate.
    pub max_rate: f64,
    /// Measure the server's memory with this many tasks queued instead.
    pub queued: Option<u64>,
    /// `godel-server`.
    pub server_bin: PathBuf,
    /// `godel-openclaw-sim`.
    pub sim_bin: PathBuf,
    /// The command line, for the report.
    pub command: String,
}

/// Runs what `options` ask for and returns the report.
///
/// # Errors
/// When the profile is unknown, the processes cannot start, or a run cannot be measured.
pub async fn run(options: &LoadOptions) -> Result<LoadReport> {
    let profile = Profile::named(options.profile)
        .with_context(|| format!("no profile {} (10, 25 or 50)", options.profile))?;
    let mut report = LoadReport {
        mode: if options.queued.is_some() {
            "queued"
        } else if options.saturation {
            "saturation"
        } else {
            "profile"
        }
        .to_owned(),
        profile: options.profile,
        backend: options.backend.as_str().to_owned(),
        command: options.command.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        host: Host::now(),
        runs: Vec::new(),
        saturation: None,
        queued: None,
    };
    let mut overrides = options.overrides;
    if options.saturation {
        overrides.run_ms = overrides.run_ms.or(Some(SATURATION_RUN_MS));
        overrides.reads_per_s = overrides.reads_per_s.or(Some(0.0));
    }
    if options.queued.is_some() {
        overrides.gateways = Some(0);
    }
    let mut plan = Plan::new(&profile, overrides, options.seconds, options.warmup);
    if options.queued.is_some() {
        plan.gateways = 0;
    }
    let rules = Rules::new(plan.rate, options.factor, options.max_rate.max(plan.rate));
    if options.saturation {
        plan.max_sessions = plan.sessions_for(rules.max_rate);
    }
    let spec = ClusterSpec {
        backend: options.backend,
        gateways: plan.gateways,
        run_ms: plan.run_ms,
        max_sessions: plan.max_sessions,
        server_bin: options.server_bin.clone(),
        sim_bin: options.sim_bin.clone(),
    };
    let mut cluster = Cluster::start(&spec).await?;
    let outcome = measure(options, &plan, &rules, &mut cluster, &mut report).await;
    if outcome.is_err() {
        eprintln!("{}", cluster.server_log_tail());
    }
    cluster.shutdown().await;
    report.host.done();
    outcome.map(|()| report)
}

async fn measure(
    options: &LoadOptions,
    plan: &Plan,
    rules: &Rules,
    cluster: &mut Cluster,
    report: &mut LoadReport,
) -> Result<()> {
    if let Some(n) = options.queued {
        report.queued = Some(queued::measure(cluster, n, QUEUED_WORKERS).await?);
        return Ok(());
    }
    if !options.saturation {
        report
            .runs
            .push(run::measure(cluster, plan, run::ALL_EVENTS).await?);
        return Ok(());
    }
    let mut best = 0.0;
    let mut stopped = "every step up to the maximum rate held".to_owned();
    for rate in rules.rates() {
        let step = run::measure(cluster, &plan.at_rate(rate), SATURATION_EVENTS).await?;
        eprintln!(
            "saturation: {rate:.0}/s offered: accepted {:.0}/s, completed {:.0}/s, dispatch p99 {:.1} ms, api p99 {:.1} ms, errors {}",
            step.submitted_per_s,
            step.completed_per_s,
            step.dispatch.p99_ms,
            step.api.p99_ms,
            step.error_count()
        );
        let broken = rules.broken(&step);
        report.runs.push(step);
        if let Some(why) = broken {
            stopped = why;
            break;
        }
        best = rate;
        if !cluster.server_running() {
            bail!("the server stopped during the saturation search");
        }
    }
    report.saturation = Some(SaturationSummary {
        max_sustainable_per_s: best,
        stopped_because: stopped,
    });
    Ok(())
}
