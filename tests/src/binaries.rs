//! The binaries under test, built once per test process: `cargo build -p godel-server -p
//! godel-cli -p godel-openclaw-sim` (with the `cargo` that runs the tests, `$CARGO`, into `CARGO_TARGET_DIR` or else
//! the target folder the tests were built in), the executables' paths read from Cargo's own
//! JSON messages rather than guessed.
//!
//! When the CLI or the simulator does not build, the server is built alone, so the server's
//! scenarios still run and only [`Binaries::cli`] or [`Binaries::sim`] fails, with the
//! compiler's words.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The built executables.
#[derive(Debug)]
pub struct Binaries {
    server: PathBuf,
    cli: Result<PathBuf, String>,
    sim: Result<PathBuf, String>,
}

impl Binaries {
    /// `godel-server`.
    #[must_use]
    pub fn server(&self) -> &Path {
        &self.server
    }

    /// `godel`, the CLI.
    ///
    /// # Panics
    /// When `godel-cli` did not build (the message holds the end of Cargo's output).
    #[must_use]
    pub fn cli(&self) -> &Path {
        match &self.cli {
            Ok(path) => path,
            Err(why) => panic!("the `godel` CLI did not build:\n{why}"),
        }
    }

    /// `godel-openclaw-sim`, the simulated gateways as a process of their own.
    ///
    /// # Panics
    /// When `godel-openclaw-sim` did not build (the message holds the end of Cargo's output).
    #[must_use]
    pub fn sim(&self) -> &Path {
        match &self.sim {
            Ok(path) => path,
            Err(why) => panic!("`godel-openclaw-sim` did not build:\n{why}"),
        }
    }
}

/// The binaries, built on first use.
///
/// # Panics
/// When `godel-server` does not build.
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(build)
}

/// The workspace's root manifest.
fn workspace_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .join("Cargo.toml")
}

/// The target folder this test executable was built in (`<target>/<profile>/deps/<exe>`), when
/// it is recognisably one (Cargo marks its root with `CACHEDIR.TAG`): the binaries are built
/// beside the tests even when the tests were built with `--target-dir`.
fn own_target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    target
        .join("CACHEDIR.TAG")
        .is_file()
        .then(|| target.to_path_buf())
}

/// The `cargo` running the tests (`$CARGO`), else the one that compiled them, else `cargo`.
fn cargo() -> String {
    std::env::var("CARGO")
        .ok()
        .or_else(|| option_env!("CARGO").map(str::to_owned))
        .unwrap_or_else(|| "cargo".to_owned())
}

fn build() -> Binaries {
    match cargo_build(&["godel-server", "godel-cli", "godel-openclaw-sim"]) {
        Ok(found) => Binaries {
            server: pick(&found, "godel-server"),
            cli: Ok(pick(&found, "godel")),
            sim: Ok(pick(&found, "godel-openclaw-sim")),
        },
        Err(all) => {
            let found = cargo_build(&["godel-server"])
                .unwrap_or_else(|e| panic!("`godel-server` does not build:\n{e}"));
            Binaries {
                server: pick(&found, "godel-server"),
                cli: Err(all.clone()),
                sim: Err(all),
            }
        }
    }
}

fn pick(found: &[(String, PathBuf)], name: &str) -> PathBuf {
    found
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, path)| path.clone())
        .unwrap_or_else(|| panic!("cargo built no `{name}` executable (built: {found:?})"))
}

/// Builds `packages` and returns `(binary name, executable)` for every binary target built.
fn cargo_build(packages: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    let mut command = Command::new(cargo());
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace_manifest())
        .arg("--message-format=json-render-diagnostics");
    if std::env::var_os("CARGO_TARGET_DIR").is_none()
        && let Some(dir) = own_target_dir()
    {
        command.arg("--target-dir").arg(dir);
    }
    for package in packages {
        command.args(["-p", package]);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", cargo()))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build -p {} failed ({}):\n{}",
            packages.join(" -p "),
            output.status,
            tail(&String::from_utf8_lossy(&output.stderr), 60)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout.lines().filter_map(executable).collect())
}

/// The `(binary name, executable)` of one `compiler-artifact` message of a `bin` target.
fn executable(line: &str) -> Option<(String, PathBuf)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
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

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bin_artifacts_with_an_executable_are_picked() {
        let bin = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"godel"},"executable":"/t/debug/godel"}"#;
        assert_eq!(
            executable(bin),
            Some(("godel".to_owned(), PathBuf::from("/t/debug/godel")))
        );
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"godel"},"executable":null}"#;
        assert_eq!(executable(lib), None);
        assert_eq!(executable(r#"{"reason":"build-finished"}"#), None);
        assert_eq!(executable("not json"), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
