//! Godel as a running server: [`Godel`] opens the configured stores (SQLite by default;
//! Postgres, with Redis as its index, when configured), builds the engine and the HTTP API
//! over them, creates the first admin API key, registers the configured (and, in development
//! mode, simulated) OpenClaw gateways, and serves until told to stop, then drains.
//!
//! [`Godel::builder`] starts from in-memory stores, for embedding and tests;
//! [`Godel::from_settings`] from [`Settings`], as `godel-server` does.

mod bootstrap;
mod dev;
mod logging;
mod probes;
mod shutdown;
mod stores;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use godel_engine::{Engine, EngineConfig, EngineHandle, ShutdownReport, TokioClock};
use godel_federation::InstanceSpec;
use godel_http::{AppState, HttpOptions, JwtSettings};
use godel_lifecycle::GatewayConnector;
use godel_openclaw::{OpenClawConfig, OpenClawConnector};
use godel_openclaw_sim::SimFleet;
use godel_queue::QueueConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use self::bootstrap::AdminKey;
pub use self::logging::init_logging;
pub use self::shutdown::signal;
pub use self::stores::{MigrateReport, migrate};
use crate::settings::{Settings, SettingsError};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The settings are invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A store could not be opened or migrated.
    #[error("store: {0}")]
    Store(String),
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The data directory or the admin key file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Something else failed while starting.
    #[error("{0}")]
    Start(String),
}

/// Where the builder takes its stores from.
enum StoreChoice {
    InMemory,
    Configured,
}

/// Builds a [`Godel`].
pub struct GodelBuilder {
    settings: Settings,
    store: StoreChoice,
    connector: Option<Arc<dyn GatewayConnector>>,
    dev_gateways: Option<u32>,
    queue: QueueConfig,
}

impl std::fmt::Debug for GodelBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GodelBuilder")
            .field("settings", &self.settings)
            .field("dev_gateways", &self.dev_gateways)
            .finish_non_exhaustive()
    }
}

impl GodelBuilder {
    /// Starts `n` simulated OpenClaw gateways in-process and registers them (0: none).
    #[must_use]
    pub fn dev_gateways(mut self, n: u32) -> Self {
        self.dev_gateways = Some(n);
        self
    }

    /// Uses `connector` to reach gateways instead of the OpenClaw client.
    #[must_use]
    pub fn connector(mut self, connector: Arc<dyn GatewayConnector>) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Replaces the queue's configuration (lease TTL, retry policy, aging).
    #[must_use]
    pub fn queue(mut self, queue: QueueConfig) -> Self {
        self.queue = queue;
        self
    }

    /// Opens the stores, builds the engine and the API, creates the first admin key (when the
    /// settings ask for it), and registers gateways. Nothing is served or dispatched until
    /// [`Godel::serve`] or [`Godel::start`].
    ///
    /// # Errors
    /// [`ServerError`] saying what could not be opened.
    pub async fn build(self) -> Result<Godel, ServerError> {
        let settings = self.settings;
        let clock: Arc<TokioClock> = Arc::new(TokioClock::default());
        let opened = match self.store {
            StoreChoice::InMemory => stores::Opened::in_memory(self.queue, clock.clone())?,
            StoreChoice::Configured => stores::open(&settings, self.queue, clock.clone()).await?,
        };
        let connector = self
            .connector
            .unwrap_or_else(|| Arc::new(OpenClawConnector::new(OpenClawConfig::default())));
        let mut config = EngineConfig {
            shutdown_grace: Duration::from_secs(settings.server.shutdown_grace_s),
            replica: settings.server.replica.clone(),
            health: settings.federation.health(),
            breaker: settings.federation.breaker(),
            ..EngineConfig::default()
        };
        config.dispatch.idle_wake = config.dispatch.idle_wake.min(Duration::from_secs(1));
        let mut builder = Engine::builder(opened.stores.clone(), connector)
            .config(config)
            .clock(clock)
            .bus(Arc::clone(&opened.bus));
        if let Some(leader) = &opened.leader {
            builder = builder.leader(Arc::clone(leader));
        }
        let engine = builder.build();

        let metrics = godel_http::ops::install_prometheus().ok();
        let mut state = AppState::builder(engine.clone())
            .api_keys(Arc::clone(&opened.api_keys))
            .audit(Arc::clone(&opened.audit))
            .rate_limiter(Arc::clone(&opened.limiter))
            .options(http_options(&settings))
            .version(env!("CARGO_PKG_VERSION"));
        if let Some(render) = metrics {
            state = state.metrics(render);
        }
        if let Some(secret) = &settings.auth.jwt_secret {
            state = state.jwt(JwtSettings {
                secret: secret.expose().as_bytes().to_vec(),
                issuer: settings.auth.jwt_issuer.clone(),
                audience: settings.auth.jwt_audience.clone(),
                leeway: Duration::from_secs(30),
            });
        }
        for probe in &opened.probes {
            state = state.probe(Arc::clone(probe));
        }
        let state = state.build().map_err(|e| {
            ServerError::Settings(SettingsError::Invalid {
                key: "auth.jwt_secret".into(),
                message: e.to_string(),
            })
        })?;

        let admin_key = if settings.auth.bootstrap_admin_key {
            bootstrap::admin_key(&state, &settings).await?
        } else {
            None
        };

        let dev_gateways = self.dev_gateways.unwrap_or(if settings.server.dev {
            settings.server.dev_gateways
        } else {
            0
        });
        let restored = engine
            .instances()
            .restore()
            .await
            .map_err(|e| ServerError::Start(format!("restoring instances: {e}")))?;
        tracing::info!(restored, "instances restored from the store");
        dev::forget_previous(&engine).await;
        for gateway in &settings.openclaw.gateways {
            let mut spec = InstanceSpec::new(gateway.url.clone(), gateway.max_sessions);
            spec.region.clone_from(&gateway.region);
            spec.token = gateway.token.as_ref().map(|t| t.expose().to_owned());
            dev::replace_instance(&engine, spec).await?;
        }
        let fleet = if dev_gateways > 0 {
            Some(
                dev::start(
                    &engine,
                    dev_gateways,
                    settings.server.dev_sessions,
                    Duration::from_millis(settings.server.dev_run_ms),
                )
                .await?,
            )
        } else {
            None
        };

        Ok(Godel {
            engine,
            state,
            settings,
            admin_key,
            fleet,
            background: opened.background,
        })
    }
}

/// A built Godel: the engine, its API, and what it started.
pub struct Godel {
    engine: Engine,
    state: AppState,
    settings: Settings,
    admin_key: Option<AdminKey>,
    fleet: Option<SimFleet>,
    background: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Godel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Godel")
            .field("engine", &self.engine)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Godel {
    /// A builder over in-memory stores, with no gateway: the starting point for embedding.
    ///
    /// # Errors
    /// Never in practice (the built-in defaults are valid).
    pub fn builder() -> Result<GodelBuilder, ServerError> {
        let mut settings = Settings::defaults()?;
        settings.auth.bootstrap_admin_key = false;
        Ok(GodelBuilder {
            settings,
            store: StoreChoice::InMemory,
            connector: None,
            dev_gateways: None,
            queue: QueueConfig::default(),
        })
    }

    /// A builder over the stores `settings` name (SQLite in the data directory by default).
    #[must_use]
    pub fn from_settings(settings: Settings) -> GodelBuilder {
        GodelBuilder {
            settings,
            store: StoreChoice::Configured,
            connector: None,
            dev_gateways: None,
            queue: QueueConfig::default(),
        }
    }

    /// The engine: submit, list and cancel tasks without HTTP.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The first admin key, when this start created one (it is shown only once).
    #[must_use]
    pub fn admin_key(&self) -> Option<&AdminKey> {
        self.admin_key.as_ref()
    }

    /// The simulated gateways' endpoints (development mode).
    #[must_use]
    pub fn dev_endpoints(&self) -> Vec<String> {
        self.fleet
            .as_ref()
            .map(SimFleet::endpoints)
            .unwrap_or_default()
    }

    /// Starts dispatching without serving HTTP (an embedder driving the engine directly).
    /// Stop with [`Running::shutdown`].
    #[must_use]
    pub fn start(self) -> Running {
        let handle = self.engine.start();
        let gauges =
            godel_http::ops::spawn_gauge_sampler(self.engine.clone(), Duration::from_secs(5));
        let mut background = self.background;
        background.push(gauges);
        Running {
            handle,
            fleet: self.fleet,
            background,
        }
    }

    /// Serves the API on `listener` and dispatches until `stop` completes, then drains: stops
    /// taking requests and claiming tasks, lets running tasks finish within the grace period,
    /// returns the rest to the queue, and stops the simulated gateways.
    ///
    /// # Errors
    /// [`ServerError::Start`] when serving fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<ShutdownReport, ServerError> {
        let state = self.state.clone();
        let running = self.start();
        let served = godel_http::serve(listener, state, stop).await;
        let report = running.shutdown().await;
        served.map_err(|e| ServerError::Start(format!("serving HTTP: {e}")))?;
        Ok(report)
    }
}

/// A started Godel (see [`Godel::start`]).
pub struct Running {
    handle: EngineHandle,
    fleet: Option<SimFleet>,
    background: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

impl Running {
    /// Drains the engine, then stops the background tasks and the simulated gateways.
    pub async fn shutdown(self) -> ShutdownReport {
        let report = self.handle.shutdown().await;
        for task in self.background {
            task.abort();
        }
        if let Some(fleet) = self.fleet {
            fleet.shutdown().await;
        }
        report
    }
}

/// The HTTP tunables `settings` imply.
fn http_options(settings: &Settings) -> HttpOptions {
    HttpOptions {
        body_limit: settings.http.body_limit,
        rate_per_second: settings.http.rate_per_second,
        rate_burst: settings.http.rate_burst,
        metrics_public: settings.http.metrics_public,
        max_in_flight: settings.http.max_in_flight,
        ..HttpOptions::default()
    }
}

/// Runs a server from `settings` until SIGTERM or SIGINT: what `godel-server` does. Prints
/// where it listens and, on first start, the admin key.
///
/// # Errors
/// [`ServerError`] when it cannot start; once serving, it drains and returns `Ok`.
pub async fn run(settings: Settings) -> Result<ShutdownReport, ServerError> {
    let addr = settings.server.addr;
    let godel = Godel::from_settings(settings).build().await?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    bootstrap::announce(&godel, local);
    let report = godel.serve(listener, signal()).await?;
    tracing::info!(
        finished = report.finished,
        returned = report.returned,
        "drained; bye"
    );
    Ok(report)
}
