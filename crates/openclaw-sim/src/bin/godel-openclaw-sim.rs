//! `godel-openclaw-sim`: runs simulated OpenClaw gateways on loopback until SIGTERM or SIGINT,
//! then stops them gracefully (clients get `shutdown` and close 1012).
//!
//! Prints one line per gateway on stdout, `gateway <i> ws://127.0.0.1:<port>`; logs go to stderr
//! (`RUST_LOG` filters them, default `info`).
//!
//! Fault hooks for chaos tests: `--journal FILE` appends one JSON line per run start and end
//! (see `RunJournal`); SIGUSR1 puts every gateway in hang mode (connections accepted, nothing
//! answered), SIGUSR2 takes them out of it.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use godel_openclaw_sim::{FailureKind, RunJournal, SimConfig, SimFleet};
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

/// Simulated OpenClaw gateways (protocol v4) for tests, load runs and development.
#[derive(Debug, Parser)]
#[command(name = "godel-openclaw-sim", version)]
struct Args {
    /// Number of gateways to run.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Port of the first gateway (the others follow); 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    base_port: u16,
    /// Shared token clients must present in `connect` (none: any token is accepted).
    #[arg(long, env = "GODEL_SIM_TOKEN")]
    token: Option<String>,
    /// Duration of a normal run, in milliseconds.
    #[arg(long, default_value_t = 20)]
    run_ms: u64,
    /// Duration of a run whose message contains `SLOW`, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    slow_ms: u64,
    /// Fraction of runs (0..=1) that fail with a provider error.
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    /// Maximum unfinished runs per agent; beyond it `chat.send` gets a retryable `UNAVAILABLE`.
    #[arg(long)]
    capacity: Option<u32>,
    /// Interval of the `tick` event, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    tick_ms: u64,
    /// Fraction of runs (0..=1) whose starting connection is dropped abruptly mid-run.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Simulated start-up window after which `connect` stops answering `UNAVAILABLE`, in ms.
    #[arg(long, default_value_t = 0)]
    startup_ms: u64,
    /// Agent ids each gateway hosts (comma-separated; the first is the default agent).
    #[arg(long, value_delimiter = ',', default_value = "main")]
    agents: Vec<String>,
    /// Final reply text of successful runs.
    #[arg(long)]
    reply: Option<String>,
    /// Seed of the failure injection.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Append one JSON line per run start and end to this file (created if needed).
    #[arg(long)]
    journal: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    for (name, rate) in [
        ("--failure-rate", args.failure_rate),
        ("--drop-rate", args.drop_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            bail!("{name} must be between 0 and 1, got {rate}");
        }
    }
    if args.agents.is_empty() || args.agents.iter().any(String::is_empty) {
        bail!("--agents must name at least one agent");
    }
    let mut config = SimConfig {
        token: args.token,
        agents: args.agents,
        run_duration: Duration::from_millis(args.run_ms),
        slow_duration: Duration::from_millis(args.slow_ms),
        failure_rate: args.failure_rate,
        failure_kind: FailureKind::Provider,
        seed: args.seed,
        startup_window: Duration::from_millis(args.startup_ms),
        tick_interval: Duration::from_millis(args.tick_ms.max(1)),
        agent_capacity: args.capacity,
        drop_rate: args.drop_rate,
        ..SimConfig::default()
    };
    if let Some(reply) = args.reply {
        config.reply_text = reply;
    }
    if let Some(path) = &args.journal {
        let journal = RunJournal::open(path)
            .with_context(|| format!("open the journal {}", path.display()))?;
        config.journal = Some(journal);
    }
    let fleet = SimFleet::start_on(args.instances, config, args.base_port)
        .await
        .context("start the simulated gateways")?;
    let mut stdout = std::io::stdout().lock();
    for (i, endpoint) in fleet.endpoints().iter().enumerate() {
        writeln!(stdout, "gateway {i} {endpoint}").context("write to stdout")?;
    }
    stdout.flush().context("flush stdout")?;
    drop(stdout);
    serve_until_stopped(&fleet)
        .await
        .context("wait for a signal")?;
    tracing::info!("stopping the simulated gateways");
    fleet.shutdown().await;
    Ok(())
}

/// Serves until SIGINT or SIGTERM; SIGUSR1 and SIGUSR2 turn hang mode on and off meanwhile.
async fn serve_until_stopped(fleet: &SimFleet) -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hang = signal(SignalKind::user_defined1())?;
    let mut unhang = signal(SignalKind::user_defined2())?;
    loop {
        let hung = tokio::select! {
            result = tokio::signal::ctrl_c() => return result,
            _ = terminate.recv() => return Ok(()),
            _ = hang.recv() => true,
            _ = unhang.recv() => false,
        };
        tracing::info!(hung, "hang mode changed");
        for gateway in fleet.gateways() {
            gateway.set_hang(hung);
        }
    }
}
