//! `cargo xtask ci` and `cargo xtask test`: the checks CI runs, in order, stopping at the first
//! failure.
//!
//! Each step prints a header before it starts and its elapsed time after it ends, so a CI log shows
//! where time goes and which step broke. `.ci/run` prepares a machine and then runs exactly
//! `cargo xtask ci`, the test command the README gives. The bounded chaos scenarios run inside the
//! test step (`tests/tests/chaos.rs`); the API fuzz and the load generator's smoke run follow it.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::{cargo, cargo_has, layers, run_command, tidy};

/// The work of one CI step.
type Action = fn() -> Result<()>;

/// The CI steps, in the order they run: a name for the log and the work.
const STEPS: &[(&str, Action)] = &[
    ("fmt", fmt),
    ("clippy", clippy),
    ("test", || test(&[])),
    ("fuzz-api", fuzz_api),
    ("load-smoke", load_smoke),
    ("layers", layers::run),
    ("tidy", tidy::run),
    ("doc", doc),
    ("deny", deny),
];

/// Runs every step of [`STEPS`] in order; the first failure ends the run with its step named.
pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    for (i, (name, action)) in STEPS.iter().enumerate() {
        println!();
        println!("==> [{}/{}] {name}", i + 1, STEPS.len());
        let step_started = Instant::now();
        let result = action();
        let elapsed = secs(step_started.elapsed());
        result.with_context(|| format!("ci step `{name}` failed after {elapsed}"))?;
        println!("<== {name} ok in {elapsed}");
    }
    println!();
    println!(
        "ci: all {} steps passed in {}",
        STEPS.len(),
        secs(started.elapsed())
    );
    Ok(())
}

/// The test step. With nextest installed: the doctests (`cargo test --doc`, which nextest cannot
/// run), then every other test with `cargo nextest run`, whose per-test lines and summary close the
/// step's output. Without it: one `cargo test`, which runs both. `args` go to the test runner.
pub(crate) fn test(args: &[String]) -> Result<()> {
    if cargo_has("nextest") {
        run_command(&mut cargo(["test", "--workspace", "--doc", "--locked"]))?;
        run_command(
            cargo([
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ])
            .args(args),
        )
    } else {
        println!("cargo-nextest is not installed; running the tests with `cargo test`");
        run_command(cargo(["test", "--workspace", "--locked", "--no-fail-fast"]).args(args))
    }
}

/// The API fuzz run of issue #7 with a bounded example count (about 2 minutes on 2 cores).
fn fuzz_api() -> Result<()> {
    crate::fuzz_api::run(&[String::from("--examples"), String::from("60")])
}

/// The load generator's smoke run: a short, low-rate run that fails when the tool breaks.
fn load_smoke() -> Result<()> {
    crate::load::run(&[String::from("--smoke")])
}

fn fmt() -> Result<()> {
    run_command(&mut cargo(["fmt", "--all", "--check"]))
}

fn clippy() -> Result<()> {
    run_command(&mut cargo([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))
}

fn doc() -> Result<()> {
    run_command(
        cargo(["doc", "--workspace", "--no-deps", "--locked"]).env("RUSTDOCFLAGS", "-D warnings"),
    )
}

/// `cargo deny check bans licenses sources` when cargo-deny is installed.
///
/// Advisories are not checked: they need the advisory database fetched from outside the package
/// registries, which this project's machines cannot reach (see `deny.toml`). `unused-wrapper` is
/// allowed because `deny.toml` names adapter crates as wrappers before those crates exist.
fn deny() -> Result<()> {
    if cargo_has("deny") {
        let checks = ["bans", "licenses", "sources"];
        run_command(cargo(["deny", "--locked", "check", "--allow", "unused-wrapper"]).args(checks))
    } else {
        println!("cargo-deny is not installed; skipped `cargo deny check bans licenses sources`");
        Ok(())
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
