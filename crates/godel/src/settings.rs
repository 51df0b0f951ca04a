//! [`Settings`]: everything `godel-server` can be configured with, loaded with the `config`
//! crate in this order, each layer overriding the one before: built-in defaults, then
//! `godel.toml` (or the file given), then `GODEL_*` environment variables (the PRD's `DASH_*`
//! names are accepted as aliases), then command-line flags. Invalid settings fail with a
//! message naming the key; secrets never appear in `Debug` output or logs.

mod env;
mod secret;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, File, FileFormat};
use serde::Deserialize;

pub use self::secret::Secret;

/// The whole configuration of a Godel server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Listening, data directory, development mode, shutdown.
    pub server: ServerSettings,
    /// The durable store: SQLite in the data directory unless a Postgres URL is given.
    pub database: DatabaseSettings,
    /// Redis (optional): the hot queue index, event fan-out, shared rate limits.
    pub redis: RedisSettings,
    /// Authentication.
    pub auth: AuthSettings,
    /// HTTP limits.
    pub http: HttpSettings,
    /// Logging.
    pub log: LogSettings,
    /// OpenClaw gateways registered at start.
    pub openclaw: OpenClawSettings,
    /// Health probing and circuit breaking of gateway instances.
    pub federation: FederationSettings,
}

/// `[federation]`: how gateway instances are probed, when they count as unhealthy (which fails
/// their work over), and when their circuit breaker opens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSettings {
    /// Milliseconds between two health probes of one instance.
    pub probe_interval_ms: u64,
    /// Milliseconds a probe may take before it counts as missed.
    pub probe_timeout_ms: u64,
    /// Missed probes in a row that make an instance unhealthy and fail its work over.
    pub unhealthy_after: u32,
    /// Failed gateway calls in a row that open an instance's circuit breaker.
    pub breaker_failure_threshold: u32,
    /// Milliseconds an open breaker refuses calls before letting a trial call through.
    pub breaker_reset_ms: u64,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on (`GODEL_ADDR`; default `127.0.0.1:7373`).
    pub addr: SocketAddr,
    /// Where the embedded database and the first admin key live (`GODEL_DATA_DIR`; `./.godel`).
    pub data_dir: PathBuf,
    /// Start simulated OpenClaw gateways in-process, so tasks flow at once (`--dev`).
    pub dev: bool,
    /// How many simulated gateways `dev` starts (1 to 50; default 3).
    pub dev_gateways: u32,
    /// Sessions (runs at once) each simulated gateway takes (1 to 64; default 4).
    pub dev_sessions: u32,
    /// How long a simulated run takes, in milliseconds (default 1500; a prompt containing
    /// `SLOW` takes 10 s, `FAIL` fails: see `godel-openclaw-sim`).
    pub dev_run_ms: u64,
    /// Seconds a shutdown lets running tasks finish before returning them to the queue.
    pub shutdown_grace_s: u64,
    /// This replica's name (the leader lease holder; default `godel-0`).
    pub replica: String,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` to use Postgres (`GODEL_DATABASE_URL`); none: SQLite in the data directory.
    pub url: Option<Secret>,
    /// Connections in the pool (default 16).
    pub pool_size: u32,
    /// Apply pending migrations at start (default true; `godel-server migrate` applies them
    /// explicitly).
    pub migrate_on_start: bool,
}

/// `[redis]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://…` (`GODEL_REDIS_URL`); needs a Postgres database beside it.
    pub url: Option<Secret>,
    /// Prefix of every key Godel writes (default `godel`).
    pub prefix: String,
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The HS256 secret of JWTs, at least 32 bytes (`GODEL_JWT_SECRET`); none: JWTs are off and
    /// only API keys authenticate.
    pub jwt_secret: Option<Secret>,
    /// The required `iss` (default `godel`).
    pub jwt_issuer: String,
    /// The required `aud` (default `godel-api`).
    pub jwt_audience: String,
    /// Create an admin API key on first start and write it to `<data_dir>/admin.key`
    /// (default true).
    pub bootstrap_admin_key: bool,
    /// The tenant of that first key (default `default`).
    pub bootstrap_tenant: String,
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest request body in bytes (default 1 MiB).
    pub body_limit: usize,
    /// Sustained requests per second per credential (default 100).
    pub rate_per_second: f64,
    /// Burst per credential (default 200).
    pub rate_burst: u32,
    /// `/metrics` answers any caller, not only loopback ones (default false).
    pub metrics_public: bool,
    /// Requests served at once; beyond, a request is refused with 503 at once.
    pub max_in_flight: usize,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter (`GODEL_LOG_LEVEL`; default `info`).
    pub level: String,
    /// `human` or `json` (JSON lines with the PRD 12.2 fields).
    pub format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line.
    Json,
}

/// `[openclaw]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenClawSettings {
    /// Gateways registered at start (`[[openclaw.gateways]]`).
    pub gateways: Vec<GatewaySettings>,
}

/// One statically configured gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Its WebSocket URL (`ws://127.0.0.1:18789`).
    pub url: String,
    /// Its shared token.
    pub token: Option<Secret>,
    /// Its region, for geo-aware routing.
    #[serde(default)]
    pub region: Option<String>,
    /// Sessions it may run at once (default 8).
    #[serde(default = "default_max_sessions")]
    pub max_sessions: u32,
}

const fn default_max_sessions() -> u32 {
    8
}

/// Where settings come from, besides the defaults and the environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// A configuration file; `None`: `./godel.toml` when it exists (unless `no_default_file`).
    pub file: Option<PathBuf>,
    /// Do not look for `./godel.toml`.
    pub no_default_file: bool,
    /// Values from flags, as `(key, value)` pairs such as `("server.addr", "0.0.0.0:80")`;
    /// they override everything else.
    pub overrides: Vec<(String, String)>,
    /// The environment to read (`None`: the process's).
    pub env: Option<Vec<(String, String)>>,
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A setting has an unusable value.
    #[error("invalid setting `{key}`: {message}")]
    Invalid {
        /// The dotted key, e.g. `auth.jwt_secret`.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The configuration file cannot be read or parsed, or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(String),
}

/// The built-in defaults, as TOML: the first layer of every load.
const DEFAULTS: &str = r#"
[server]
addr = "127.0.0.1:7373"
data_dir = ".godel"
dev = false
dev_gateways = 3
dev_sessions = 4
dev_run_ms = 1500
shutdown_grace_s = 30
replica = "godel-0"

[database]
pool_size = 16
migrate_on_start = true

[redis]
prefix = "godel"

[auth]
jwt_issuer = "godel"
jwt_audience = "godel-api"
bootstrap_admin_key = true
bootstrap_tenant = "default"

[http]
body_limit = 1048576
rate_per_second = 100.0
rate_burst = 200
metrics_public = false
max_in_flight = 1024

[log]
level = "info"
format = "human"

[openclaw]
gateways = []

[federation]
probe_interval_ms = 5000
probe_timeout_ms = 2000
unhealthy_after = 3
breaker_failure_threshold = 5
breaker_reset_ms = 30000
"#;

impl FederationSettings {
    /// The engine's health model with these settings (a healthy instance is degraded after one
    /// missed probe, and healthy again after one successful probe).
    #[must_use]
    pub fn health(&self) -> godel_federation::HealthConfig {
        godel_federation::HealthConfig {
            probe_interval: std::time::Duration::from_millis(self.probe_interval_ms),
            probe_timeout: std::time::Duration::from_millis(self.probe_timeout_ms),
            degraded_after: 1,
            unhealthy_after: self.unhealthy_after,
            recover_after: 1,
        }
    }

    /// The per-instance circuit breaker with these settings.
    #[must_use]
    pub fn breaker(&self) -> godel_federation::BreakerConfig {
        godel_federation::BreakerConfig {
            failure_threshold: self.breaker_failure_threshold,
            reset_timeout: std::time::Duration::from_millis(self.breaker_reset_ms),
            ..godel_federation::BreakerConfig::default()
        }
    }
}

impl Settings {
    /// Loads settings from the defaults, the file, the environment and the overrides.
    ///
    /// # Errors
    /// [`SettingsError`] naming the key at fault, or the file that could not be read.
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        match &sources.file {
            Some(path) => {
                if !path.is_file() {
                    return Err(SettingsError::Load(format!(
                        "the configuration file {} does not exist",
                        path.display()
                    )));
                }
                builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
            }
            None if sources.no_default_file => {}
            None => {
                builder = builder.add_source(
                    File::from(Path::new("godel.toml"))
                        .format(FileFormat::Toml)
                        .required(false),
                );
            }
        }
        let process_env: Vec<(String, String)>;
        let env = match &sources.env {
            Some(env) => env.as_slice(),
            None => {
                process_env = std::env::vars().collect();
                process_env.as_slice()
            }
        };
        for (key, value) in env::overrides(env)? {
            builder = builder
                .set_override(key, value)
                .map_err(|e| SettingsError::Load(e.to_string()))?;
        }
        for (key, value) in &sources.overrides {
            builder = builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|e| SettingsError::Load(e.to_string()))?;
        }
        let settings: Self = builder
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|e| SettingsError::Load(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The defaults alone (what a server with no configuration runs with).
    ///
    /// # Errors
    /// Never in practice; kept fallible because it shares [`Settings::load`]'s path.
    pub fn defaults() -> Result<Self, SettingsError> {
        Self::load(&Sources {
            no_default_file: true,
            env: Some(Vec::new()),
            ..Sources::default()
        })
    }
}
