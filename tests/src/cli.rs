//! [`run_cli`]: the real `godel` binary, run as a user would, against a server; and
//! [`run_server_command`]: `godel-server` commands that exit (`check-config`).
//!
//! The CLI gets `GODEL_URL` and (when given) `GODEL_API_KEY`, a clean environment otherwise (no
//! `GODEL_*` or `DASH_*` variable of the test's), and an empty working folder, so it cannot find
//! a stray `./.godel/admin.key`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::binaries::binaries;

/// How long one command may run before the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// What a run of a binary did.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl CliOutput {
    /// Whether it exited 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Stdout parsed as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("the CLI's stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for CliOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `godel <args>` with `GODEL_URL=url` and `GODEL_API_KEY=key`.
///
/// # Panics
/// When the binary cannot be started or runs longer than 60 s.
pub async fn run_cli(url: &str, key: Option<&str>, args: &[&str]) -> CliOutput {
    let mut env = vec![("GODEL_URL", url), ("NO_COLOR", "1")];
    if let Some(key) = key {
        env.push(("GODEL_API_KEY", key));
    }
    run(binaries().cli(), args, &env).await
}

/// Runs `godel-server <args>` once with `env` (for commands that exit: `check-config`,
/// `migrate`, or a start that must fail), in an empty working folder.
///
/// # Panics
/// When the binary cannot be started or runs longer than 60 s.
pub async fn run_server_command(args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    run(binaries().server(), args, env).await
}

async fn run(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    let folder = tempfile::Builder::new()
        .prefix("godel-e2e-cwd-")
        .tempdir()
        .expect("a temporary working folder");
    let mut command = std::process::Command::new(binary);
    crate::server::clean_env(&mut command);
    command
        .current_dir(folder.path())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let child = command.spawn().expect("spawn the binary");
    let name = binary.file_name().unwrap_or_default().to_string_lossy();
    let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "`{name} {}` ran longer than {RUN_TIMEOUT:?}",
                args.join(" ")
            )
        })
        .expect("the binary's output");
    CliOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
