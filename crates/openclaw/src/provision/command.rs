//! How to run an OpenClaw gateway: a program and its leading arguments (e.g.
//! `node …/openclaw.mjs`), from `GODEL_OPENCLAW_NODE`/`GODEL_OPENCLAW_ENTRY` or from `PATH`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The Node binary to run the gateway's entry script with (optional: `node` on `PATH` otherwise).
pub const ENV_NODE: &str = "GODEL_OPENCLAW_NODE";
/// The gateway's entry script, `…/node_modules/openclaw/openclaw.mjs`.
pub const ENV_ENTRY: &str = "GODEL_OPENCLAW_ENTRY";
/// The executables looked for on `PATH`, in this order.
pub const PATH_CANDIDATES: [&str; 3] = ["openclaw", "openclaws", "openclawd"];

/// A way to run a gateway: `program args… gateway run --port P --bind loopback`, with extra
/// environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCommand {
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    /// A folder put first on the child's `PATH` (the Node binary's, so the gateway's own
    /// children find the same Node).
    path_prefix: Option<PathBuf>,
}

/// Why no [`GatewayCommand`] could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayCommandError {
    /// Neither the variables nor `PATH` name a gateway.
    #[error(
        "openclaw not found: set GODEL_OPENCLAW_NODE/ENTRY or put openclaw on PATH \
         (looked for openclaw, openclaws, openclawd)"
    )]
    NotFound,
    /// A variable names a file that does not exist.
    #[error("{var} is {path}, which does not exist")]
    Missing {
        /// The variable.
        var: &'static str,
        /// What it names.
        path: PathBuf,
    },
    /// `GODEL_OPENCLAW_NODE` is set without `GODEL_OPENCLAW_ENTRY`.
    #[error(
        "GODEL_OPENCLAW_NODE is set but GODEL_OPENCLAW_ENTRY is not: \
         set it to …/node_modules/openclaw/openclaw.mjs"
    )]
    NodeWithoutEntry,
}

impl GatewayCommand {
    /// Runs `program` with no leading arguments (e.g. an `openclaw` executable).
    #[must_use]
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            path_prefix: None,
        }
    }

    /// Runs the entry script `entry` with the Node binary `node`; when `node` is a path, its
    /// folder goes first on the child's `PATH`.
    #[must_use]
    pub fn node(node: impl Into<PathBuf>, entry: impl Into<PathBuf>) -> Self {
        let node = node.into();
        let path_prefix = node
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(Path::to_path_buf);
        Self {
            program: node,
            args: vec![entry.into().into_os_string()],
            envs: Vec::new(),
            path_prefix,
        }
    }

    /// Adds a leading argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable for the gateway.
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// The program run.
    #[must_use]
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The leading arguments (before `gateway run …`).
    #[must_use]
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// The command from `GODEL_OPENCLAW_ENTRY` (run with `GODEL_OPENCLAW_NODE`, or `node`), else
    /// the first of [`PATH_CANDIDATES`] on `PATH`.
    ///
    /// # Errors
    /// [`GatewayCommandError`] when nothing is found or a variable names a missing file.
    pub fn from_env() -> Result<Self, GatewayCommandError> {
        Self::from_vars(
            std::env::var_os(ENV_NODE),
            std::env::var_os(ENV_ENTRY),
            std::env::var_os("PATH").as_deref(),
        )
    }

    /// [`from_env`](Self::from_env) with the variables given (empty values count as unset).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(
        node: Option<OsString>,
        entry: Option<OsString>,
        path: Option<&OsStr>,
    ) -> Result<Self, GatewayCommandError> {
        let node = node.filter(|v| !v.is_empty()).map(PathBuf::from);
        let entry = entry.filter(|v| !v.is_empty()).map(PathBuf::from);
        match (node, entry) {
            (node, Some(entry)) => {
                if !entry.is_file() {
                    return Err(GatewayCommandError::Missing {
                        var: ENV_ENTRY,
                        path: entry,
                    });
                }
                match node {
                    Some(node) if !node.is_file() => Err(GatewayCommandError::Missing {
                        var: ENV_NODE,
                        path: node,
                    }),
                    Some(node) => Ok(Self::node(node, entry)),
                    None => Ok(Self::node("node", entry)),
                }
            }
            (Some(_), None) => Err(GatewayCommandError::NodeWithoutEntry),
            (None, None) => path
                .and_then(|path| Self::on_path(path).into_iter().next())
                .ok_or(GatewayCommandError::NotFound),
        }
    }

    /// Every one of [`PATH_CANDIDATES`] found as an executable file in the folders of `path`,
    /// in candidate order.
    #[must_use]
    pub fn on_path(path: &OsStr) -> Vec<Self> {
        PATH_CANDIDATES
            .iter()
            .filter_map(|name| {
                std::env::split_paths(path)
                    .map(|dir| dir.join(name))
                    .find(|file| is_executable(file))
            })
            .map(Self::new)
            .collect()
    }

    /// The command line `… gateway run --port <port> --bind loopback`, with this command's
    /// environment; the caller adds its own variables and standard streams.
    pub(crate) fn gateway_run(&self, port: u16) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args).args([
            "gateway",
            "run",
            "--port",
            &port.to_string(),
            "--bind",
            "loopback",
        ]);
        if let Some(prefix) = &self.path_prefix {
            let rest = std::env::var_os("PATH").unwrap_or_default();
            let joined = std::env::join_paths(
                std::iter::once(prefix.clone()).chain(std::env::split_paths(&rest)),
            );
            if let Ok(joined) = joined {
                command.env("PATH", joined);
            }
        }
        command.envs(self.envs.iter().map(|(k, v)| (k, v)));
        command
    }

    /// The command as a shell-like line, for logs and error messages.
    #[must_use]
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(OsStr::to_string_lossy)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_and_nothing_on_path_names_the_fix() {
        let err = GatewayCommand::from_vars(None, None, Some(OsStr::new("/nonexistent")))
            .expect_err("nothing to find");
        assert_eq!(err, GatewayCommandError::NotFound);
        assert!(err.to_string().contains("GODEL_OPENCLAW_NODE/ENTRY"));
    }

    #[test]
    fn a_missing_entry_or_a_node_alone_is_refused() {
        let err = GatewayCommand::from_vars(None, Some("/nonexistent/openclaw.mjs".into()), None)
            .expect_err("missing entry");
        assert!(matches!(
            err,
            GatewayCommandError::Missing { var: ENV_ENTRY, .. }
        ));
        let err = GatewayCommand::from_vars(Some("/usr/bin/node".into()), None, None)
            .expect_err("node alone");
        assert_eq!(err, GatewayCommandError::NodeWithoutEntry);
    }

    #[test]
    fn an_entry_runs_with_the_given_node_whose_folder_leads_path() {
        let entry = std::env::current_exe().expect("the test binary exists");
        let node = entry.clone();
        let command =
            GatewayCommand::from_vars(Some(node.clone().into()), Some(entry.clone().into()), None)
                .expect("both exist");
        assert_eq!(command.program(), node);
        assert_eq!(command.args(), [entry.as_os_str()]);
        let run = command.gateway_run(18789);
        let args: Vec<_> = run
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args[1..],
            ["gateway", "run", "--port", "18789", "--bind", "loopback"]
        );
        let path = run
            .get_envs()
            .find(|(k, _)| *k == "PATH")
            .and_then(|(_, v)| v)
            .expect("PATH is set");
        let first = std::env::split_paths(path).next();
        assert_eq!(first.as_deref(), node.parent());
    }
}
