//! `cargo xtask chaos`: the fault-injection scenarios of `tests/tests/chaos.rs` at full size.
//!
//! Runs `cargo nextest run -p godel-e2e --test chaos --no-capture` (or `cargo test -p godel-e2e
//! --test chaos -- --nocapture` when nextest is not installed) with `GODEL_CHAOS_SCALE=full`, so
//! the scenarios submit more tasks over a longer load, and `GODEL_TEST_LIVE=require`, so a
//! missing `redis-server` or PostgreSQL server fails the run instead of skipping a scenario.
//! The scenarios print their measurements as `chaos[...]` lines. Extra arguments are passed on
//! (a test name filter, `--test-threads 1`...); `GODEL_CHAOS_SCALE=ci` in the environment keeps
//! the small size. CI runs the same tests at the small size as part of the ordinary test step.

use anyhow::Result;

use crate::{cargo, cargo_has, run_command};

/// Runs the chaos scenarios with `args` passed to the test runner.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let scale = std::env::var("GODEL_CHAOS_SCALE").unwrap_or_else(|_| "full".to_owned());
    let mut command = if cargo_has("nextest") {
        let mut c = cargo([
            "nextest",
            "run",
            "-p",
            "godel-e2e",
            "--test",
            "chaos",
            "--no-capture",
        ]);
        c.args(args);
        c
    } else {
        println!("cargo-nextest is not installed; running the chaos scenarios with `cargo test`");
        let mut c = cargo(["test", "-p", "godel-e2e", "--test", "chaos", "--"]);
        c.arg("--nocapture").args(args);
        c
    };
    command
        .env("GODEL_CHAOS_SCALE", scale)
        .env("GODEL_TEST_LIVE", "require");
    run_command(&mut command)
}
