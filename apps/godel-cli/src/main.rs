//! `godel`: the command line of a Godel server. It talks to `GODEL_URL` (default
//! `http://127.0.0.1:7373`) over HTTP and the `/events` WebSocket through `godel::client`,
//! prints tables (or the server's JSON with `--json`) and exits non-zero on failure:
//! 2 for a usage error (including a malformed `--url`), 1 for an API or connection error or a
//! followed task that failed.
//!
//! It holds no business logic: every rule is the server's.

mod cli;
mod commands;
mod keyfile;
mod render;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};
use godel::client::Client;

use crate::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = &cli.command {
        // Into a buffer first: a closed pipe (`godel completions bash | head`) is not a panic.
        let mut script = Vec::new();
        clap_complete::generate(*shell, &mut Cli::command(), "godel", &mut script);
        return match commands::out(&String::from_utf8_lossy(&script)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let mut has_credential = false;
    let result = async {
        let cwd = std::env::current_dir().unwrap_or_default();
        let data_dir = std::env::var_os("GODEL_DATA_DIR").map(std::path::PathBuf::from);
        let found = keyfile::discover(cli.api_key.as_deref(), &cwd, data_dir.as_deref())?;
        has_credential = found.is_some();
        let client = Client::try_new(&cli.url, found.map(|f| f.key))?;
        commands::run(cli, client).await
    }
    .await;
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", commands::describe(&e, has_credential));
            commands::exit_code(&e)
        }
    }
}
