//! `cargo xtask`: Godel's repository automation, written in Rust so it runs wherever cargo does.
//!
//! The alias in `.cargo/config.toml` makes `cargo xtask <command>` run this binary from the
//! workspace root. Commands:
//!
//! - `ci`: everything CI checks, in order, stopping at the first failure (see [`ci`]);
//! - `test [args]`: the test step alone: nextest (or `cargo test`) plus doctests;
//! - `layers`: the dependency rules of DESIGN §2, read from `cargo metadata` (see [`layers`]);
//! - `tidy`: repository hygiene: `//!` headers, no `#[ignore]` or `#[should_panic]` (see [`tidy`]);
//! - `bench [args]`: the criterion benches of `godel-benches`;
//! - `e2e-openclaw [args]`: the end-to-end tests on the real OpenClaw gateway (see [`e2e_openclaw`]);
//! - `load [args]`: the load generator's profiles and saturation run (see [`load`]);
//! - `chaos [args]`: the fault-injection scenarios at full size (see [`chaos`]);
//! - `fuzz-api [args]`: schemathesis against the served OpenAPI document (see [`fuzz_api`]).
//!
//! This is tooling, not product: it is the one place besides the apps where `anyhow` is used, and
//! no Godel crate depends on it.

mod bench;
mod chaos;
mod ci;
mod e2e_openclaw;
mod fuzz_api;
mod layers;
mod load;
mod tidy;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

/// Command line of `cargo xtask`.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Godel repository automation",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every CI check in order (fmt, clippy, tests, layers, tidy, docs, cargo-deny).
    Ci,
    /// Run the tests: doctests, then nextest when installed (else one `cargo test` for both).
    Test {
        /// Extra arguments for `cargo nextest run` (or `cargo test`), e.g. a filter.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check the crate layering rules of DESIGN §2 against `cargo metadata`.
    Layers,
    /// Check repository hygiene: `//!` headers, no ignored or should-panic tests.
    Tidy,
    /// Run the criterion benches of `godel-benches` (`cargo bench -p godel-benches <args>`).
    Bench {
        /// Extra arguments for `cargo bench`, e.g. `-- claim`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Install the real OpenClaw gateway (cached) and run its end-to-end tests.
    E2eOpenclaw {
        /// Extra arguments for `cargo nextest run`, e.g. a test name filter.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the load generator: `--profile 10|25|50`, `--backend embedded|pg-redis`, saturation.
    Load {
        /// Arguments for the load run (`cargo xtask load --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the fault-injection scenarios at full size.
    Chaos {
        /// Arguments for the chaos run (`cargo xtask chaos --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fuzz the HTTP API with schemathesis against the served OpenAPI document.
    FuzzApi {
        /// Arguments for the fuzz run (`cargo xtask fuzz-api --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Ci => ci::run(),
        Cmd::Test { args } => ci::test(&args),
        Cmd::Layers => layers::run(),
        Cmd::Tidy => tidy::run(),
        Cmd::Bench { args } => bench::run(&args),
        Cmd::E2eOpenclaw { args } => e2e_openclaw::run(&args),
        Cmd::Load { args } => load::run(&args),
        Cmd::Chaos { args } => chaos::run(&args),
        Cmd::FuzzApi { args } => fuzz_api::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this package's directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// A `cargo` command run from the workspace root, using the same cargo that runs xtask.
fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(project_root());
    if std::env::var_os("CI").is_some() {
        cmd.env("CARGO_TERM_COLOR", "never");
    }
    cmd
}

/// Runs `cmd` with inherited output; an error when it cannot start or exits unsuccessfully.
fn run_command(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    println!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("failed to start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Whether `cargo <subcommand> --version` works, i.e. the cargo plugin is installed.
fn cargo_has(subcommand: &str) -> bool {
    cargo([subcommand, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command as a shell-like line, environment overrides first, for logs and error messages.
fn display(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value
            && key != "CARGO_TERM_COLOR"
        {
            parts.push(format!("{}={:?}", key.to_string_lossy(), value));
        }
    }
    let program = Path::new(cmd.get_program());
    let program = if program.file_stem() == Some(OsStr::new("cargo")) {
        "cargo".into()
    } else {
        program.to_string_lossy()
    };
    parts.push(program.into_owned());
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}
