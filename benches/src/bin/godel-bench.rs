//! `godel-bench`: Godel's load programs.
//!
//! `godel-bench queue-workload --store memory` runs the queue workload of `BENCH-WORKLOAD.md`
//! against a store, reading its parameters from the environment (`OUT` is required), and writes
//! the JSON result to `$OUT` (and prints it). `godel-bench submit-latency --store sqlite --rate
//! 1000` measures the latency of a durable submit at a fixed rate, open loop, and prints JSON.

use std::fs;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
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
    }
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
