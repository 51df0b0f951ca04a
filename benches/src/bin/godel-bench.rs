//! `godel-bench`: Godel's load programs.
//!
//! `godel-bench queue-workload --store memory` runs the queue workload of `BENCH-WORKLOAD.md`
//! against a store, reading its parameters from the environment (`OUT` is required), and writes
//! the JSON result to `$OUT` (and prints it). Stores other than `memory` arrive with the stores
//! issue (#4); asking for one fails rather than printing a made-up result.

use std::fs;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use godel_benches::params::Params;
use godel_benches::stores::{self, StoreKind};
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
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::QueueWorkload { store } => queue_workload(store),
    }
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
