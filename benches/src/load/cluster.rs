//! [`Cluster`]: what a load run measures, started from the built binaries: the simulated
//! gateways (`godel-openclaw-sim`, one process for all of them, so the server's CPU and memory
//! are its own) and `godel-server`, configured by a `godel.toml` written into a temporary
//! folder: the gateways, a per-credential rate limit high enough not to throttle the run, and
//! for `pg-redis` a fresh database `godel_load_<random>` and a fresh Redis key prefix, both
//! removed by [`Cluster::shutdown`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use godel_queue::{QueueConfig, SystemClock};

use crate::load::http::Http;
use crate::load::plan::Backend;
use crate::load::process::ChildProcess;
use crate::rng::SplitMix64;

/// The Postgres server of a `pg-redis` run (user `postgres`, trust).
const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The Redis server of a `pg-redis` run.
const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// How long a process may take to start.
const START_LIMIT: Duration = Duration::from_secs(60);

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// The server's store.
    pub backend: Backend,
    /// Simulated gateways (0: none, tasks stay queued).
    pub gateways: usize,
    /// Simulated run length, ms.
    pub run_ms: u64,
    /// Sessions each gateway is registered with.
    pub max_sessions: u32,
    /// The `godel-server` executable.
    pub server_bin: PathBuf,
    /// The `godel-openclaw-sim` executable.
    pub sim_bin: PathBuf,
}

/// The database and key prefix a `pg-redis` run made.
#[derive(Debug, Clone)]
struct External {
    database: String,
    prefix: String,
}

/// A running server with its gateways.
#[derive(Debug)]
pub struct Cluster {
    /// The server's base URL.
    pub url: String,
    /// The admin API key its first start printed.
    pub admin_key: String,
    server: ChildProcess,
    sim: Option<ChildProcess>,
    folder: PathBuf,
    external: Option<External>,
}

impl Cluster {
    /// Starts the gateways, then the server, and waits until the server reports every
    /// gateway healthy.
    ///
    /// # Errors
    /// When a process does not start, a store cannot be prepared, or the gateways do not all
    /// turn healthy within a minute. What was started is stopped again.
    pub async fn start(spec: &ClusterSpec) -> Result<Self> {
        let mut rng = SplitMix64::new(seed());
        let tag = format!("{:012x}", rng.next_u64() >> 16);
        let folder = std::env::temp_dir().join(format!("godel-load-{tag}"));
        std::fs::create_dir_all(&folder).with_context(|| format!("create {}", folder.display()))?;
        let external = match spec.backend {
            Backend::Embedded => None,
            Backend::PgRedis => {
                let database = format!("godel_load_{tag}");
                godel_postgres::admin::create_database(PG_ADMIN_URL, &database, None)
                    .await
                    .with_context(|| format!("create database {database} at {PG_ADMIN_URL}"))?;
                Some(External {
                    database,
                    prefix: format!("godel_load_{tag}"),
                })
            }
        };
        let started = Self::launch(spec, &folder, external.clone()).await;
        match started {
            Ok(cluster) => Ok(cluster),
            Err(e) => {
                cleanup(&folder, external.as_ref()).await;
                Err(e)
            }
        }
    }

    async fn launch(spec: &ClusterSpec, folder: &Path, external: Option<External>) -> Result<Self> {
        let mut sim = None;
        let mut endpoints = Vec::new();
        if spec.gateways > 0 {
            let mut command = Command::new(&spec.sim_bin);
            command
                .arg("--instances")
                .arg(spec.gateways.to_string())
                .arg("--run-ms")
                .arg(spec.run_ms.to_string())
                .env("RUST_LOG", "warn");
            let mut process =
                ChildProcess::spawn("godel-openclaw-sim", command, &folder.join("sim.log"))?;
            endpoints = tokio::task::block_in_place(|| {
                let mut found = Vec::new();
                while found.len() < spec.gateways {
                    let endpoint = process.wait_for_line(START_LIMIT, gateway_endpoint)?;
                    found.push(endpoint);
                }
                anyhow::Ok(found)
            })?;
            sim = Some(process);
        }
        let config = folder.join("godel.toml");
        std::fs::write(
            &config,
            server_config(spec, folder, external.as_ref(), &endpoints),
        )
        .with_context(|| format!("write {}", config.display()))?;
        let mut command = Command::new(&spec.server_bin);
        command.arg("--config").arg(&config).current_dir(folder);
        let mut server = ChildProcess::spawn("godel-server", command, &folder.join("server.log"))?;
        let (url, admin_key) = tokio::task::block_in_place(|| {
            let url = server.wait_for_line(START_LIMIT, listening_url)?;
            let key = server.wait_for_line(Duration::from_secs(10), admin_key)?;
            anyhow::Ok((url, key))
        })?;
        let cluster = Self {
            url,
            admin_key,
            server,
            sim,
            folder: folder.to_path_buf(),
            external,
        };
        cluster.wait_healthy(spec.gateways).await?;
        Ok(cluster)
    }

    /// Waits until `/health` counts `gateways` healthy instances.
    async fn wait_healthy(&self, gateways: usize) -> Result<()> {
        let http = Http::new(&self.url, &self.admin_key)?;
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            let health = http.health().await;
            if let Ok(h) = &health
                && h.healthy as usize >= gateways
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the server did not report {gateways} healthy gateways within {START_LIMIT:?} \
                     (last: {health:?})\n{}",
                    self.server.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The server's PID.
    #[must_use]
    pub fn server_pid(&self) -> u32 {
        self.server.pid()
    }

    /// The simulator's PID, when gateways run.
    #[must_use]
    pub fn sim_pid(&self) -> Option<u32> {
        self.sim.as_ref().map(ChildProcess::pid)
    }

    /// Whether the server still runs.
    pub fn server_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// The end of the server's log.
    #[must_use]
    pub fn server_log_tail(&self) -> String {
        self.server.log_tail()
    }

    /// Stops the server and the gateways, drops the run's database and Redis keys, and removes
    /// the temporary folder.
    pub async fn shutdown(mut self) {
        tokio::task::block_in_place(|| {
            self.server.stop(Duration::from_secs(10));
            if let Some(sim) = &mut self.sim {
                sim.stop(Duration::from_secs(5));
            }
        });
        cleanup(&self.folder, self.external.as_ref()).await;
    }
}

/// Removes what a run left outside its processes; failures are reported, not returned.
async fn cleanup(folder: &Path, external: Option<&External>) {
    if let Some(external) = external {
        if let Err(e) = godel_postgres::admin::drop_database(PG_ADMIN_URL, &external.database).await
        {
            eprintln!("load: could not drop database {}: {e}", external.database);
        }
        let cleared = match godel_redis::RedisQueueStore::connect(
            REDIS_URL,
            external.prefix.clone(),
            QueueConfig::default(),
            Arc::new(SystemClock),
        ) {
            Ok(store) => store.clear().await.map(drop).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = cleared {
            eprintln!(
                "load: could not delete the Redis keys {}:*: {e}",
                external.prefix
            );
        }
    }
    if let Err(e) = std::fs::remove_dir_all(folder) {
        eprintln!("load: could not remove {}: {e}", folder.display());
    }
}

/// The server's `godel.toml` for a run.
fn server_config(
    spec: &ClusterSpec,
    folder: &Path,
    external: Option<&External>,
    endpoints: &[String],
) -> String {
    let mut toml = format!(
        "[server]\naddr = \"127.0.0.1:0\"\ndata_dir = {data:?}\nshutdown_grace_s = 2\n\n\
         [http]\nrate_per_second = 1000000000.0\nrate_burst = 1000000000\n\n\
         [log]\nlevel = \"warn\"\n",
        data = folder.join("data").display().to_string(),
    );
    if let Some(external) = external {
        let url = godel_postgres::admin::with_database(PG_ADMIN_URL, &external.database);
        let _ = write!(
            toml,
            "\n[database]\nurl = {url:?}\n\n[redis]\nurl = {REDIS_URL:?}\nprefix = {:?}\n",
            external.prefix
        );
    }
    for endpoint in endpoints {
        let _ = write!(
            toml,
            "\n[[openclaw.gateways]]\nurl = {endpoint:?}\nregion = \"load\"\nmax_sessions = {}\n",
            spec.max_sessions
        );
    }
    toml
}

/// A seed that differs between runs: the clock's nanoseconds and the PID.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// The endpoint of `gateway <i> ws://127.0.0.1:<port>`.
fn gateway_endpoint(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    (words.next()? == "gateway").then_some(())?;
    words.next()?.parse::<usize>().ok()?;
    let url = words.next()?;
    url.starts_with("ws://").then(|| url.to_owned())
}

/// The URL of `godel-server 0.1.0 listening on http://127.0.0.1:PORT`.
fn listening_url(line: &str) -> Option<String> {
    let (_, url) = line.split_once(" listening on ")?;
    let url = url.trim();
    url.starts_with("http://").then(|| url.to_owned())
}

/// The key of `  admin API key (shown once; saved to …): dk_live_…`.
fn admin_key(line: &str) -> Option<String> {
    if !line.trim_start().starts_with("admin API key") {
        return None;
    }
    let (_, key) = line.rsplit_once(": ")?;
    let key = key.trim();
    key.starts_with("dk_").then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_processes_announcements_are_parsed() {
        assert_eq!(
            gateway_endpoint("gateway 3 ws://127.0.0.1:4242"),
            Some("ws://127.0.0.1:4242".to_owned())
        );
        assert_eq!(gateway_endpoint("gateways: 3"), None);
        assert_eq!(gateway_endpoint("gateway x ws://127.0.0.1:1"), None);
        assert_eq!(
            listening_url("godel-server 0.1.0 listening on http://127.0.0.1:40123"),
            Some("http://127.0.0.1:40123".to_owned())
        );
        assert_eq!(
            admin_key("  admin API key (shown once; saved to /tmp/x/admin.key): dk_live_abc"),
            Some("dk_live_abc".to_owned())
        );
        assert_eq!(admin_key("  API:     http://127.0.0.1:1/api/v1"), None);
    }

    #[test]
    fn the_server_configuration_names_the_gateways_stores_and_rate_limit() {
        let spec = ClusterSpec {
            backend: Backend::PgRedis,
            gateways: 2,
            run_ms: 100,
            max_sessions: 7,
            server_bin: PathBuf::from("s"),
            sim_bin: PathBuf::from("g"),
        };
        let external = External {
            database: "godel_load_x".into(),
            prefix: "godel_load_x".into(),
        };
        let toml = server_config(
            &spec,
            Path::new("/tmp/f"),
            Some(&external),
            &["ws://127.0.0.1:1".into(), "ws://127.0.0.1:2".into()],
        );
        assert_eq!(toml.matches("[[openclaw.gateways]]").count(), 2);
        assert!(toml.contains("max_sessions = 7"), "{toml}");
        assert!(toml.contains("rate_per_second = 1000000000.0"), "{toml}");
        assert!(toml.contains("/godel_load_x\""), "{toml}");
        assert!(toml.contains("prefix = \"godel_load_x\""), "{toml}");
        assert!(toml.contains("data_dir = \"/tmp/f/data\""), "{toml}");
    }
}
