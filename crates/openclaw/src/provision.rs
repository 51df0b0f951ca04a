//! [`LocalProcessProvisioner`]: real OpenClaw gateways as processes on this machine, each on its
//! own loopback port with its own folder, config and token.
//!
//! It is a [`Provisioner`] for development, tests and single-machine fleets. It knows nothing
//! of the wire protocol: a gateway is ready when its HTTP `/readyz` (or `/health`) answers 200.
//! It only runs on Linux (it reads `/proc` and signals with the `kill` command). A gateway takes
//! 0.6–1.4 GB of memory: start few.

mod command;
mod config_file;
mod ports;
pub(crate) mod probe;
pub(crate) mod process;

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read as _, Seek as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use godel_federation::{
    FederationError, InstanceSpec, ProvisionRequest, ProvisionedInstance, Provisioner,
};
use godel_types::InstanceId;

pub use self::command::{
    ENV_ENTRY, ENV_NODE, GatewayCommand, GatewayCommandError, PATH_CANDIDATES,
};
pub use self::config_file::ModelProvider;
use self::probe::{Backoff, Probe};
use self::process::GatewayProcess;

/// The environment every provisioned gateway runs with: no mDNS, no self-respawn (its PID is
/// the one to stop), no chat channels, no shell snapshot, no auto-update.
pub const GATEWAY_ENV: [(&str, &str); 5] = [
    ("OPENCLAW_DISABLE_BONJOUR", "1"),
    ("OPENCLAW_NO_RESPAWN", "1"),
    ("OPENCLAW_SKIP_CHANNELS", "1"),
    ("OPENCLAW_EXEC_SHELL_SNAPSHOT", "0"),
    ("OPENCLAW_NO_AUTO_UPDATE", "1"),
];

/// How long [`Drop`] waits for gateways to end after SIGTERM before killing them.
const DROP_GRACE: Duration = Duration::from_secs(3);

/// Settings of a [`LocalProcessProvisioner`].
#[derive(Debug, Clone)]
pub struct LocalProvisionerConfig {
    /// How to run a gateway.
    pub command: GatewayCommand,
    /// The model provider the gateways' agents use.
    pub model: ModelProvider,
    /// The folder under which each gateway gets `<instance id>/`.
    pub root: PathBuf,
    /// How long a gateway may take to become ready.
    pub ready_timeout: Duration,
    /// How long a stopping gateway may take after SIGTERM before it gets SIGKILL.
    pub stop_grace: Duration,
    /// Keep a gateway's folder after it stopped (folders of gateways that failed to start are
    /// always kept, for their logs).
    pub keep_files: bool,
}

impl LocalProvisionerConfig {
    /// Gateways run with `command` and use `model`; folders under the temp dir's
    /// `godel-openclaw/`, 60 s to become ready, 10 s to stop.
    #[must_use]
    pub fn new(command: GatewayCommand, model: ModelProvider) -> Self {
        Self {
            command,
            model,
            root: std::env::temp_dir().join("godel-openclaw"),
            ready_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
            keep_files: false,
        }
    }
}

/// What was measured of one gateway process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayProcessStats {
    /// Its process id (also its process group's).
    pub pid: u32,
    /// Its base port on `127.0.0.1`.
    pub port: u16,
    /// From spawn to ready.
    pub startup: Duration,
    /// The gateway process's peak resident memory seen, in bytes (`VmHWM`).
    pub peak_rss_bytes: u64,
    /// The peak of its child processes' resident memory seen, summed, in bytes.
    pub children_peak_rss_bytes: u64,
    /// Whether it is still running.
    pub running: bool,
}

impl GatewayProcessStats {
    /// The gateway's and its children's peaks together, in bytes.
    #[must_use]
    pub fn total_peak_rss_bytes(&self) -> u64 {
        self.peak_rss_bytes + self.children_peak_rss_bytes
    }
}

/// Starts OpenClaw gateways as local processes (see the [module docs](self)).
///
/// Dropping it stops every gateway it started (SIGTERM, a few seconds, then SIGKILL to each
/// process group; this blocks the dropping thread meanwhile).
#[derive(Debug)]
pub struct LocalProcessProvisioner {
    config: LocalProvisionerConfig,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Base ports of gateways running or starting.
    ports: Vec<u16>,
    gateways: HashMap<InstanceId, Gateway>,
}

#[derive(Debug)]
struct Gateway {
    dir: PathBuf,
    /// `None` once stopped (or being stopped).
    process: Option<GatewayProcess>,
    stats: GatewayProcessStats,
}

impl LocalProcessProvisioner {
    /// A provisioner with `config` (nothing is started yet).
    #[must_use]
    pub fn new(config: LocalProvisionerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// Start-up time and memory peaks of a gateway it started (sampled now if it runs).
    #[must_use]
    pub fn stats(&self, id: InstanceId) -> Option<GatewayProcessStats> {
        let mut state = self.lock();
        let gateway = state.gateways.get_mut(&id)?;
        if let Some(process) = gateway.process.as_mut() {
            let peaks = process.sample_rss();
            gateway.stats.peak_rss_bytes = peaks.main;
            gateway.stats.children_peak_rss_bytes = peaks.children;
            gateway.stats.running = !process.ended();
        }
        Some(gateway.stats)
    }

    /// The folder of a gateway it started (config, logs, state).
    #[must_use]
    pub fn dir(&self, id: InstanceId) -> Option<PathBuf> {
        self.lock().gateways.get(&id).map(|g| g.dir.clone())
    }

    /// Kills a gateway at once (SIGKILL to its process group), as a crash would: for failover
    /// tests. Killing one already stopped succeeds.
    ///
    /// # Errors
    /// [`FederationError::NotFound`] if this provisioner never started `id`.
    pub async fn kill(&self, id: InstanceId) -> Result<(), FederationError> {
        let Some(mut process) = self.take_process(id)? else {
            return Ok(());
        };
        process.kill().await;
        self.finish_stop(id, &mut process);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the process of `id` out of the table (it is being stopped); `None` if it was
    /// already stopped.
    fn take_process(&self, id: InstanceId) -> Result<Option<GatewayProcess>, FederationError> {
        let mut state = self.lock();
        let gateway = state
            .gateways
            .get_mut(&id)
            .ok_or(FederationError::NotFound(id))?;
        let mut process = gateway.process.take();
        if let Some(process) = process.as_mut() {
            let peaks = process.sample_rss();
            gateway.stats.peak_rss_bytes = peaks.main;
            gateway.stats.children_peak_rss_bytes = peaks.children;
        }
        Ok(process)
    }

    /// Records a stopped gateway: frees its port, and removes its folder unless kept.
    fn finish_stop(&self, id: InstanceId, process: &mut GatewayProcess) {
        let mut state = self.lock();
        let Some(gateway) = state.gateways.get_mut(&id) else {
            return;
        };
        let peaks = process.sample_rss();
        gateway.stats.peak_rss_bytes = peaks.main;
        gateway.stats.children_peak_rss_bytes = peaks.children;
        gateway.stats.running = false;
        let port = gateway.stats.port;
        let dir = gateway.dir.clone();
        state.ports.retain(|&p| p != port);
        drop(state);
        if !self.config.keep_files {
            let _ = fs::remove_dir_all(dir);
        }
    }

    /// Reserves a base port away from every other gateway's.
    fn reserve_port(&self) -> Result<u16, FederationError> {
        let mut state = self.lock();
        let port = ports::pick(&state.ports).map_err(|e| {
            FederationError::unavailable("choosing a loopback port for a gateway", e)
        })?;
        state.ports.push(port);
        Ok(port)
    }

    /// Spawns a gateway on `port` in `dir` and waits until it is ready; on failure the
    /// process is killed and the error says why, with the end of its log.
    async fn launch(
        &self,
        id: InstanceId,
        port: u16,
        dir: &Path,
        token: &str,
    ) -> Result<(GatewayProcess, Duration), FederationError> {
        let log = write_instance_files(dir, port, token, &self.config.model)
            .map_err(|e| FederationError::unavailable(format!("preparing {}", dir.display()), e))?;
        let mut command = self.config.command.gateway_run(port);
        command
            .current_dir(dir)
            .env("OPENCLAW_HOME", dir.join("home"))
            .env("OPENCLAW_STATE_DIR", dir.join("state"))
            .env("OPENCLAW_CONFIG_PATH", dir.join("openclaw.json"))
            .envs(GATEWAY_ENV);
        let began = Instant::now();
        let mut process = GatewayProcess::spawn(command, Some(&log)).map_err(|e| {
            FederationError::unavailable(
                format!(
                    "starting gateway {id} with `{}` (is it installed? set GODEL_OPENCLAW_NODE/ENTRY)",
                    self.config.command.display()
                ),
                e,
            )
        })?;
        let _ = fs::write(dir.join("gateway.pid"), process.pid().to_string());
        match self.wait_ready(&mut process, port).await {
            Ok(()) => Ok((process, began.elapsed())),
            Err(reason) => {
                process.terminate(Duration::from_secs(2)).await;
                Err(FederationError::unavailable(
                    format!("starting gateway {id} on 127.0.0.1:{port}"),
                    format!("{reason}; log {}: {}", log.display(), log_tail(&log)),
                ))
            }
        }
    }

    /// Probes the gateway with backoff until ready, its exit, or the deadline.
    async fn wait_ready(&self, process: &mut GatewayProcess, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + self.config.ready_timeout;
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(1));
        loop {
            if let Some(status) = process.try_exit() {
                return Err(format!("the gateway exited during start-up ({status})"));
            }
            let why = match probe::ready("127.0.0.1", port).await {
                Probe::Ready => return Ok(()),
                Probe::NotReady(why) => why,
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "not ready within {:?} (last probe: {why})",
                    self.config.ready_timeout
                ));
            }
            tokio::time::sleep(backoff.next_delay().min(deadline - now)).await;
        }
    }
}

#[async_trait]
impl Provisioner for LocalProcessProvisioner {
    async fn start(
        &self,
        request: ProvisionRequest,
    ) -> Result<ProvisionedInstance, FederationError> {
        if request.max_sessions == 0 {
            return Err(FederationError::invalid(
                "max_sessions",
                "must be at least 1",
            ));
        }
        let id = InstanceId::generate();
        let dir = self.config.root.join(id.to_string());
        let token = random_token()
            .map_err(|e| FederationError::unavailable("generating a gateway token", e))?;
        let port = self.reserve_port()?;
        // Frees the port if the start fails or its future is dropped.
        let reservation = PortReservation {
            provisioner: self,
            port,
        };
        let (process, startup) = self.launch(id, port, &dir, &token).await?;
        std::mem::forget(reservation);
        let stats = GatewayProcessStats {
            pid: process.pid(),
            port,
            startup,
            peak_rss_bytes: 0,
            children_peak_rss_bytes: 0,
            running: true,
        };
        tracing::info!(
            instance = %id,
            pid = stats.pid,
            port,
            startup_ms = startup.as_millis(),
            "gateway started"
        );
        self.lock().gateways.insert(
            id,
            Gateway {
                dir,
                process: Some(process),
                stats,
            },
        );
        let _ = self.stats(id);
        let mut spec = InstanceSpec::new(format!("ws://127.0.0.1:{port}"), request.max_sessions);
        spec.region = request.region;
        spec.zone = request.zone;
        spec.capabilities = request.capabilities;
        spec.token = Some(token);
        Ok(ProvisionedInstance { id, spec })
    }

    async fn stop(&self, id: InstanceId) -> Result<(), FederationError> {
        let Some(mut process) = self.take_process(id)? else {
            return Ok(());
        };
        let clean = process.terminate(self.config.stop_grace).await;
        if !clean {
            tracing::warn!(instance = %id, pid = process.pid(), "gateway ignored SIGTERM; killed");
        }
        self.finish_stop(id, &mut process);
        Ok(())
    }
}

impl Drop for LocalProcessProvisioner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut running: Vec<(PathBuf, GatewayProcess)> = state
            .gateways
            .values_mut()
            .filter_map(|g| Some((g.dir.clone(), g.process.take()?)))
            .collect();
        for (_, process) in &running {
            process.request_stop();
        }
        let deadline = Instant::now() + DROP_GRACE;
        while running.iter().any(|(_, p)| !p.ended()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for (dir, process) in &mut running {
            process.kill_blocking();
            if !self.config.keep_files {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

/// A base port reserved for a gateway being started; released when dropped.
struct PortReservation<'a> {
    provisioner: &'a LocalProcessProvisioner,
    port: u16,
}

impl Drop for PortReservation<'_> {
    fn drop(&mut self) {
        self.provisioner.lock().ports.retain(|&p| p != self.port);
    }
}

/// Creates the instance folder with `home/`, `state/`, `workspace/`, `logs/` and
/// `openclaw.json`; returns the path of the process log.
fn write_instance_files(
    dir: &Path,
    port: u16,
    token: &str,
    model: &ModelProvider,
) -> io::Result<PathBuf> {
    for sub in ["home", "state", "workspace", "logs"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    let workspace = dir.join("workspace");
    let log_file = dir.join("logs").join("openclaw.log");
    let files = config_file::GatewayFiles {
        workspace: &workspace,
        log_file: &log_file,
    };
    let config = config_file::render(port, token, model, &files);
    let text = serde_json::to_string_pretty(&config).map_err(io::Error::other)?;
    fs::write(dir.join("openclaw.json"), text)?;
    Ok(dir.join("logs").join("gateway.log"))
}

/// 32 random bytes from the kernel, as 64 hex digits.
fn random_token() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The last ~2 KB of a log file, on one line, for error messages.
fn log_tail(log: &Path) -> String {
    const TAIL: u64 = 2048;
    let read = || -> io::Result<String> {
        let mut file = fs::File::open(log)?;
        let len = file.metadata()?.len();
        file.seek(io::SeekFrom::Start(len.saturating_sub(TAIL)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) if text.trim().is_empty() => "(empty)".to_owned(),
        Ok(text) => text.split_whitespace().collect::<Vec<_>>().join(" "),
        Err(e) => format!("(unreadable: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_hex() {
        let a = random_token().expect("urandom");
        let b = random_token().expect("urandom");
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
