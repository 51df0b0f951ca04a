//! The daemon launcher (PRD US-011): makes sure a gateway answers at the configured local
//! endpoint, starting one when none does and autostart is on, and otherwise says why Godel runs
//! degraded (tasks stay queued until a gateway appears).
//!
//! Sequence of [`DaemonLauncher::ensure`]: `GET /health` on the endpoint's host and port; if
//! nothing answers and autostart is on, run the configured [`GatewayCommand`] (or, without one,
//! each of `openclaw`, `openclaws`, `openclawd` found on `PATH`, in that order) as
//! `<command> gateway run --port P --bind loopback`, and probe its readiness with backoff up to
//! a number of tries. It only manages `ws://` endpoints on loopback; it knows nothing of the
//! wire protocol.

mod endpoint;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::provision::GatewayCommand;
use crate::provision::probe::{self, Backoff, Probe};
use crate::provision::process::GatewayProcess;

/// How long [`LaunchedGateway::stop`] gives a gateway after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long dropping a [`LaunchedGateway`] waits after SIGTERM before SIGKILL.
const DROP_GRACE: Duration = Duration::from_secs(3);

/// Settings of the [`DaemonLauncher`].
#[derive(Debug, Clone)]
pub struct LauncherConfig {
    /// Where the gateway should answer, e.g. `ws://127.0.0.1:18789`.
    pub endpoint: String,
    /// Start a gateway when none answers.
    pub autostart: bool,
    /// How to run one; `None`: look for `openclaw`, `openclaws`, `openclawd` on the search path.
    pub command: Option<GatewayCommand>,
    /// Where to look for those; `None`: `$PATH`.
    pub search_path: Option<OsString>,
    /// Readiness probes of a started gateway before giving up on it.
    pub probe_tries: u32,
    /// Pause after the first failed probe (doubling after each).
    pub probe_interval: Duration,
    /// Longest pause between probes.
    pub max_probe_interval: Duration,
    /// Where a started gateway's output goes (discarded without one).
    pub log_file: Option<PathBuf>,
}

impl LauncherConfig {
    /// For `endpoint`: autostart off, no command (search `PATH`), 20 probes from 250 ms
    /// doubling up to 2 s (about 35 s in all).
    #[must_use]
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            autostart: false,
            command: None,
            search_path: None,
            probe_tries: 20,
            probe_interval: Duration::from_millis(250),
            max_probe_interval: Duration::from_secs(2),
            log_file: None,
        }
    }
}

/// What [`DaemonLauncher::ensure`] found or did.
#[derive(Debug)]
pub enum LaunchOutcome {
    /// A gateway already answered at the endpoint.
    Running {
        /// The endpoint.
        endpoint: String,
    },
    /// A gateway was started and is ready.
    Started(LaunchedGateway),
    /// The endpoint is not a local `ws://` one: the launcher neither probes nor starts it
    /// (the client's own health checks apply).
    Remote {
        /// The endpoint.
        endpoint: String,
    },
    /// No gateway answers and none could be started: Godel runs degraded (tasks stay queued).
    Degraded {
        /// Why, for health reports and logs.
        reason: String,
    },
}

impl LaunchOutcome {
    /// Whether a gateway is expected to answer (it did, was started, or is remote).
    #[must_use]
    pub fn is_available(&self) -> bool {
        !matches!(self, Self::Degraded { .. })
    }
}

/// A gateway the launcher started. Dropping it stops it (SIGTERM, a few seconds, then SIGKILL;
/// this blocks the dropping thread meanwhile) unless it was [detached](Self::detach).
#[derive(Debug)]
pub struct LaunchedGateway {
    endpoint: String,
    command: String,
    /// `None` when the command put the gateway in the background and exited (it is not ours
    /// to stop then).
    process: Option<GatewayProcess>,
}

impl LaunchedGateway {
    /// Where it answers.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The command line that started it.
    #[must_use]
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Its process id, if the command still runs it in the foreground.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(GatewayProcess::pid)
    }

    /// Stops it: SIGTERM, up to 10 s, then SIGKILL to its process group. Returns whether it
    /// ended within the grace period (true when there is no process of ours to stop).
    pub async fn stop(mut self) -> bool {
        match self.process.take() {
            Some(mut process) => process.terminate(STOP_GRACE).await,
            None => true,
        }
    }

    /// Leaves it running after this handle is gone (a daemon outliving Godel).
    pub fn detach(mut self) {
        if let Some(process) = self.process.take() {
            process.detach();
        }
    }
}

impl Drop for LaunchedGateway {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.request_stop();
            let deadline = std::time::Instant::now() + DROP_GRACE;
            while !process.ended() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            process.kill_blocking();
        }
    }
}

/// Makes sure a local gateway answers (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct DaemonLauncher {
    config: LauncherConfig,
}

impl DaemonLauncher {
    /// A launcher with `config` (nothing is probed yet).
    #[must_use]
    pub fn new(config: LauncherConfig) -> Self {
        Self { config }
    }

    /// Probes the endpoint and, when nothing answers and autostart is on, starts a gateway.
    /// Never fails: what could not be done is a [`LaunchOutcome::Degraded`] with the reason.
    pub async fn ensure(&self) -> LaunchOutcome {
        let config = &self.config;
        let local = match endpoint::parse(&config.endpoint) {
            Ok(endpoint::Endpoint::Local(local)) => local,
            Ok(endpoint::Endpoint::Remote) => {
                return LaunchOutcome::Remote {
                    endpoint: config.endpoint.clone(),
                };
            }
            Err(why) => return degraded(why),
        };
        if probe::healthy(&local.host, local.port).await {
            return LaunchOutcome::Running {
                endpoint: config.endpoint.clone(),
            };
        }
        if !config.autostart {
            return degraded(format!(
                "no gateway answers at {} and autostart is off",
                config.endpoint
            ));
        }
        let candidates = match &config.command {
            Some(command) => vec![command.clone()],
            None => {
                let path = config
                    .search_path
                    .clone()
                    .or_else(|| std::env::var_os("PATH"))
                    .unwrap_or_default();
                GatewayCommand::on_path(&path)
            }
        };
        if candidates.is_empty() {
            return degraded(format!(
                "no gateway answers at {} and none can be started: openclaw not found \
                 (looked for openclaw, openclaws, openclawd on PATH; or configure a command)",
                config.endpoint
            ));
        }
        let mut failures = Vec::new();
        for command in candidates {
            match self.start(&command, &local).await {
                Ok(gateway) => return LaunchOutcome::Started(gateway),
                Err(why) => {
                    tracing::warn!(command = %command.display(), %why, "gateway did not start");
                    failures.push(format!("`{}`: {why}", command.display()));
                }
            }
        }
        degraded(format!(
            "no gateway answers at {} and starting one failed: {}",
            config.endpoint,
            failures.join("; ")
        ))
    }

    /// Runs `command` for `local` and probes it until ready.
    async fn start(
        &self,
        command: &GatewayCommand,
        local: &endpoint::LocalEndpoint,
    ) -> Result<LaunchedGateway, String> {
        let config = &self.config;
        let mut run = command.gateway_run(local.port);
        run.env("OPENCLAW_NO_RESPAWN", "1");
        let mut process = GatewayProcess::spawn(run, config.log_file.as_deref())
            .map_err(|e| format!("cannot run it: {e}"))?;
        let mut backoff = Backoff::new(config.probe_interval, config.max_probe_interval);
        let mut last = String::from("not probed");
        let mut daemonized = false;
        for attempt in 1..=config.probe_tries.max(1) {
            if !daemonized && let Some(status) = process.try_exit() {
                if !status.success() {
                    return Err(format!("it exited during start-up ({status})"));
                }
                // It put the gateway in the background and exited: keep probing.
                daemonized = true;
            }
            match probe::ready(&local.host, local.port).await {
                Probe::Ready => {
                    return Ok(LaunchedGateway {
                        endpoint: config.endpoint.clone(),
                        command: command.display(),
                        process: (!daemonized).then_some(process),
                    });
                }
                Probe::NotReady(why) => last = why,
            }
            if attempt < config.probe_tries {
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
        if !daemonized {
            process.terminate(Duration::from_secs(2)).await;
        }
        Err(format!(
            "not ready after {} probes (last: {last})",
            config.probe_tries
        ))
    }
}

fn degraded(reason: String) -> LaunchOutcome {
    tracing::warn!(%reason, "no gateway: running degraded");
    LaunchOutcome::Degraded { reason }
}
