//! `cargo xtask load`: the load generator (issue #7). Builds `godel-server`,
//! `godel-openclaw-sim` and `godel-bench` (release; debug for `--smoke`), reading the
//! executables' paths from Cargo's JSON messages, then runs `godel-bench load` with them and
//! every other argument as given (`--profile 10|25|50`, `--backend embedded|pg-redis`,
//! `--seconds`, `--rate`, `--saturation`, `--queued N`, `--json`, `--chart`; `godel-bench load
//! --help` lists them all).
//!
//! `cargo xtask load --smoke` is the CI run that keeps the tool from rotting: a debug build,
//! 2 gateways, 3 seconds at 20 tasks/s with a few reads, failing when the run saw any error or
//! no task completed.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{cargo, run_command};

/// The arguments `--smoke` stands for.
const SMOKE: &[&str] = &[
    "--profile",
    "10",
    "--gateways",
    "2",
    "--rate",
    "20",
    "--reads",
    "20",
    "--run-ms",
    "200",
    "--seconds",
    "3",
    "--warmup",
    "1",
    "--strict",
];

/// Builds the binaries and runs `godel-bench load` with `args`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let mut rest: Vec<String> = args.iter().filter(|a| *a != "--smoke").cloned().collect();
    if smoke {
        rest.splice(0..0, SMOKE.iter().map(|s| (*s).to_owned()));
    }
    let built = build(!smoke)?;
    let path = |name: &str| {
        built
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .with_context(|| format!("cargo built no `{name}` executable"))
    };
    let mut command = Command::new(path("godel-bench")?);
    command
        .arg("load")
        .arg("--server-bin")
        .arg(path("godel-server")?)
        .arg("--sim-bin")
        .arg(path("godel-openclaw-sim")?)
        .args(&rest);
    run_command(&mut command)
}

/// Builds the three packages; `(binary name, executable)` of every binary built.
fn build(release: bool) -> Result<Vec<(String, PathBuf)>> {
    let mut command = cargo([
        "build",
        "--message-format=json-render-diagnostics",
        "-p",
        "godel-server",
        "-p",
        "godel-openclaw-sim",
        "-p",
        "godel-benches",
        "--bin",
        "godel-server",
        "--bin",
        "godel-openclaw-sim",
        "--bin",
        "godel-bench",
    ]);
    if release {
        command.arg("--release");
    }
    println!("$ {}", crate::display(&command));
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .context("run cargo build")?;
    if !output.status.success() {
        bail!("cargo build failed ({})", output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(executable)
        .collect())
}

/// The `(binary name, executable)` of one `compiler-artifact` message of a `bin` target.
fn executable(line: &str) -> Option<(String, PathBuf)> {
    let message: Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let target = &message["target"];
    let is_bin = target["kind"]
        .as_array()
        .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
    if !is_bin {
        return None;
    }
    let name = target["name"].as_str()?.to_owned();
    let path = PathBuf::from(message["executable"].as_str()?);
    Some((name, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bin_artifacts_with_an_executable_are_picked() {
        let bin = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"godel-bench"},"executable":"/t/release/godel-bench"}"#;
        assert_eq!(
            executable(bin),
            Some((
                "godel-bench".to_owned(),
                PathBuf::from("/t/release/godel-bench")
            ))
        );
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"godel"},"executable":null}"#;
        assert_eq!(executable(lib), None);
        assert_eq!(executable("not json"), None);
    }
}
