//! `godel-bench`: Godel's load programs.
//!
//! `godel-bench queue-workload --store memory` runs the queue workload of `BENCH-WORKLOAD.md`
//! against a store, reading its parameters from the environment (`OUT` is required), and writes
//! the JSON result to `$OUT` (and prints it). `godel-bench submit-latency --store sqlite --rate
//! 1000` measures the latency of a durable submit at a fixed rate, open loop, and prints JSON.
//! `godel-bench load --profile 10 --server-bin … --sim-bin …` runs the load generator against
//! a `godel-server` it starts (usually through `cargo xtask load`).

use std::fs;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};
use godel_benches::load::chart;
use godel_benches::load::plan::{Backend, Overrides};
use godel_benches::load::{self, LoadOptions};
use godel_benches::params::Params;
use godel_benches::stores::{self, StoreKind};
use godel_benches::submit::{self, SubmitParams};
use godel_benches::workload;

/// Godel's load programs.
#[derive(Debug, Parser)]
#[command(name = "godel-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the queue workload of BENCH-WORKLOAD.md and writes its JSON to $OUT.
    ///
    /// Environment: OUT (required), N, CONCURRENCY, RATE, LAT_SECONDS, WARMUP_S, PRIO_N, CHUNK,
    /// ENQ_LIMIT_S, PAR_INFLIGHT, REDIS_URL, PG_ADMIN_URL.
    QueueWorkload {
        /// The store to measure.
        #[arg(long, value_enum)]
        store: StoreKind,
    },
    /// Measures submit latency at a fixed rate (open loop) and prints JSON.
    ///
    /// Environment: REDIS_URL, PG_ADMIN_URL (as for queue-workload).
    SubmitLatency {
        /// The store to measure.
        #[arg(long, value_enum)]
        store: StoreKind,
        /// Submissions per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Measured seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Unmeasured seconds sent first.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
    },
    /// Starts godel-server and simulated gateways and drives the server over HTTP, open loop.
    Load(LoadArgs),
}

/// `godel-bench load`.
#[derive(Debug, Args)]
struct LoadArgs {
    /// PRD NFR-2 profile: 10, 25 or 50 sessions (simulated gateways).
    #[arg(long, default_value_t = 10)]
    profile: u32,
    /// The server's store.
    #[arg(long, value_enum, default_value_t = Backend::Embedded)]
    backend: Backend,
    /// Measured seconds (per step with --saturation).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured seconds sent first (per step).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Tasks per second instead of the profile's (the first step with --saturation).
    #[arg(long)]
    rate: Option<f64>,
    /// Reads (GET) per second besides the submissions (default: the profile's API rate minus
    /// its task rate; 0 with --saturation).
    #[arg(long)]
    reads: Option<f64>,
    /// Simulated gateways instead of the profile's.
    #[arg(long)]
    gateways: Option<usize>,
    /// Simulated run length in ms (default: the profile's; 100 with --saturation).
    #[arg(long)]
    run_ms: Option<u64>,
    /// Raise the rate step by step until dispatch p99 > 100 ms, errors > 1 % or the server
    /// falls behind; reports the maximum sustainable rate.
    #[arg(long)]
    saturation: bool,
    /// Rate factor per saturation step.
    #[arg(long, default_value_t = 2.0)]
    factor: f64,
    /// Highest saturation rate, tasks/s.
    #[arg(long, default_value_t = 20_000.0)]
    max_rate: f64,
    /// Measure the server's memory with this many tasks queued (no gateway runs them; sent
    /// closed loop by 32 workers).
    #[arg(long)]
    queued: Option<u64>,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write an SVG chart (dispatch p50/p99 and API p99 against the offered rate) here.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// The godel-server executable.
    #[arg(long)]
    server_bin: PathBuf,
    /// The godel-openclaw-sim executable.
    #[arg(long)]
    sim_bin: PathBuf,
    /// Fail (exit 1) when the run saw any error or no task completed (the CI smoke run).
    #[arg(long)]
    strict: bool,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::QueueWorkload { store } => queue_workload(store),
        Command::SubmitLatency {
            store,
            rate,
            seconds,
            warmup,
        } => submit_latency(
            store,
            SubmitParams {
                rate,
                seconds,
                warmup,
            },
        ),
        Command::Load(args) => load_command(args),
    }
}

fn load_command(args: LoadArgs) -> Result<()> {
    if !(args.seconds > 0.0 && args.warmup >= 0.0 && args.factor >= 1.0) {
        bail!("--seconds must be positive, --warmup not negative and --factor at least 1");
    }
    let bad = |r: f64| r.is_nan() || r < 0.0;
    if args.rate.is_some_and(|r| bad(r) || r == 0.0) || args.reads.is_some_and(bad) {
        bail!("--rate must be positive and --reads not negative");
    }
    let options = LoadOptions {
        profile: args.profile,
        backend: args.backend,
        seconds: args.seconds,
        warmup: args.warmup,
        overrides: Overrides {
            rate: args.rate,
            reads_per_s: args.reads,
            gateways: args.gateways,
            run_ms: args.run_ms,
        },
        saturation: args.saturation,
        factor: args.factor,
        max_rate: args.max_rate,
        queued: args.queued,
        server_bin: args.server_bin,
        sim_bin: args.sim_bin,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("godel-load")
        .build()
        .context("build the load runtime")?;
    let report = runtime.block_on(load::run(&options))?;
    println!("{}", report.table());
    if let Some(path) = &args.json {
        fs::write(path, format!("{}\n", report.to_json()))
            .with_context(|| format!("write {}", path.display()))?;
    }
    if let Some(path) = &args.chart {
        let title = format!(
            "godel-server ({}, profile {}): latency vs offered rate",
            report.backend, report.profile
        );
        fs::write(path, chart::svg(&title, &chart::series(&report.runs)))
            .with_context(|| format!("write {}", path.display()))?;
    }
    if args.strict {
        let errors: u64 = report.runs.iter().map(|r| r.error_count()).sum();
        let completed: u64 = report.runs.iter().map(|r| r.completed).sum();
        if errors > 0 || (report.queued.is_none() && completed == 0) {
            bail!("the run saw {errors} errors and {completed} completed tasks");
        }
    }
    Ok(())
}

fn submit_latency(kind: StoreKind, params: SubmitParams) -> Result<()> {
    let store_params = Params::from_lookup(|name| match name {
        "OUT" => Some("/dev/null".to_owned()),
        _ => std::env::var(name).ok(),
    })?;
    let opened = stores::open(kind, &store_params)?;
    let report = submit::run(params, &opened)?;
    println!("{}", report.to_json());
    Ok(())
}

fn queue_workload(kind: StoreKind) -> Result<()> {
    let params = Params::from_env()?;
    let opened = stores::open(kind, &params)?;
    let report = workload::run(&params, &opened)?;
    let json = report.to_json();
    fs::write(&params.out, format!("{json}\n"))
        .with_context(|| format!("write the result to {}", params.out.display()))?;
    println!("{json}");
    Ok(())
}
