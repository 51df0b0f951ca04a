//! `cargo xtask bench`: the criterion benches of `godel-benches`.
//!
//! Runs `cargo bench -p godel-benches` with the given arguments, then reminds whoever ran it that
//! the numbers belong in `docs/benchmarks.md`, together with the machine they were measured on.

use anyhow::Result;

use crate::{cargo, run_command};

/// Runs the benches, passing `args` to `cargo bench` (e.g. `--bench queue -- claim`).
pub(crate) fn run(args: &[String]) -> Result<()> {
    run_command(cargo(["bench", "-p", "godel-benches"]).args(args))?;
    println!();
    println!(
        "bench: write the numbers into docs/benchmarks.md, with the machine they ran on \
         (CPU model, cores, memory, `rustc --version`)"
    );
    Ok(())
}
