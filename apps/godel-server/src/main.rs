//! `godel-server`: runs Godel. With no configuration it keeps its data in SQLite under
//! `./.godel/`, listens on 127.0.0.1:7373 and writes a first admin API key to
//! `./.godel/admin.key`. Settings: defaults < `godel.toml` < `GODEL_*` (or `DASH_*`) < flags.
//! Exit codes: 0 after a clean drain, 2 usage, 69 a store or port unavailable, 78 bad settings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use godel::server::{ServerError, init_logging, migrate};
use godel::{Settings, Sources};

/// The Godel control plane for fleets of OpenClaw agents.
#[derive(Debug, Parser)]
#[command(name = "godel-server", version, about)]
struct Cli {
    /// A TOML configuration file (default: ./godel.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:7373.
    #[arg(long, global = true)]
    addr: Option<String>,
    /// Folder of the embedded database and the admin key.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Use Postgres (postgres://…) instead of the embedded SQLite store.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Use Redis (redis://…) as the queue index beside Postgres.
    #[arg(long, global = true)]
    redis_url: Option<String>,
    /// Start simulated OpenClaw gateways in-process (try Godel with no gateway).
    #[arg(long, global = true)]
    dev: bool,
    /// How many simulated gateways `--dev` starts.
    #[arg(long, global = true)]
    dev_gateways: Option<u32>,
    /// `human` or `json`.
    #[arg(long, global = true)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load and validate the settings, print them (secrets redacted), and exit.
    CheckConfig,
}

fn sources(cli: &Cli) -> Sources {
    let mut overrides = Vec::new();
    let mut set = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            overrides.push((key.to_owned(), v));
        }
    };
    set("server.addr", cli.addr.clone());
    set(
        "server.data_dir",
        cli.data_dir.as_ref().map(|p| p.display().to_string()),
    );
    set("database.url", cli.database_url.clone());
    set("redis.url", cli.redis_url.clone());
    set("server.dev", cli.dev.then(|| "true".to_owned()));
    set(
        "server.dev_gateways",
        cli.dev_gateways.map(|n| n.to_string()),
    );
    set("log.format", cli.log_format.clone());
    Sources {
        file: cli.config.clone(),
        overrides,
        ..Sources::default()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings =
        match Settings::load(&sources(&cli)).and_then(|s| init_logging(&s.log).map(|()| s)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("godel-server: {e}");
                return ExitCode::from(78);
            }
        };
    let result = match cli.command {
        Some(Command::CheckConfig) => {
            println!("configuration is valid:\n{settings:#?}");
            return ExitCode::SUCCESS;
        }
        Some(Command::Migrate) => migrate(&settings)
            .await
            .map(|r| println!("migrated the {} store at {}", r.store, r.location)),
        None => godel::run(settings).await.map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("godel-server: {e}");
            ExitCode::from(match e {
                ServerError::Settings(_) => 78,
                ServerError::Store(_) | ServerError::Bind { .. } | ServerError::Io { .. } => 69,
                _ => 1,
            })
        }
    }
}
