//! [`SimConfig`]: every knob of a simulated gateway, with defaults that behave like a fast, healthy
//! real gateway (token auth off, one agent `main`, 20 ms runs, ticks every 30 s).

use std::time::Duration;

use crate::journal::RunJournal;

/// Which failure a failing run shows, for runs failed by [`SimConfig::failure_rate`].
///
/// The message triggers choose their own kind: `FAIL` is [`FailureKind::Provider`], `HTTP401` is
/// [`FailureKind::Auth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureKind {
    /// The model provider fails after the run duration (a real HTTP 500 is retried by the gateway
    /// for 75–90 s before it gives up; the simulator gives up after the run duration).
    #[default]
    Provider,
    /// The provider refuses the credentials (HTTP 401): the run fails at once, as in
    /// `fail_401.jsonl`.
    Auth,
}

/// Configuration of one simulated gateway. Every field has a default; change fields directly
/// (`SimConfig { token: Some(..), ..SimConfig::default() }`) or through the `with_*` methods.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The shared gateway token a `connect` must carry in `auth.token`; `None` accepts any token
    /// (a gateway with auth mode `none`).
    pub token: Option<String>,
    /// The agent ids the gateway hosts; the first one is the default agent. Default `["main"]`.
    pub agents: Vec<String>,
    /// How long a normal run streams before it ends. Default 20 ms.
    pub run_duration: Duration,
    /// How long a run whose message contains `SLOW` streams (long enough to abort it). Default 10 s.
    pub slow_duration: Duration,
    /// How many assistant deltas a run streams (at least 1). Default 2, as the real capture.
    pub deltas_per_run: u32,
    /// The final reply text of a successful run.
    pub reply_text: String,
    /// Probability (0..=1) that a run fails with [`SimConfig::failure_kind`], drawn from a seeded
    /// generator so a test run is repeatable. Default 0.
    pub failure_rate: f64,
    /// The failure that [`SimConfig::failure_rate`] injects.
    pub failure_kind: FailureKind,
    /// Seed of the simulator's random generator (failures, dropped connections).
    pub seed: u64,
    /// After a (re)start, `connect` is answered `UNAVAILABLE` (retryable, `retryAfterMs` 500) and
    /// `/readyz` with 503 for this long. Default zero.
    pub startup_window: Duration,
    /// After a (re)start, this many `connect` requests are answered `UNAVAILABLE` regardless of
    /// time. Default 0.
    pub startup_refusals: u32,
    /// Interval of the `tick` event (the real gateway: 30 s).
    pub tick_interval: Duration,
    /// Simulator knob, not a real gateway behaviour: the maximum number of unfinished runs
    /// (running or queued) per agent. Beyond it `chat.send` is answered with a retryable
    /// `UNAVAILABLE` error carrying `retryAfterMs` ([`SimConfig::capacity_retry_after`]); the real
    /// gateway queues instead. `None` (default) is unlimited.
    pub agent_capacity: Option<u32>,
    /// The `retryAfterMs` of an at-capacity refusal. Default 500 ms.
    pub capacity_retry_after: Duration,
    /// Probability (0..=1) that the connection which started a run is dropped abruptly (no close
    /// frame) at a random moment during that run. The run itself goes on. Default 0.
    pub drop_rate: f64,
    /// Start in hang mode: connections and requests are accepted but nothing is ever answered
    /// (see [`SimGateway::set_hang`](crate::SimGateway::set_hang)).
    pub hang: bool,
    /// The version the gateway reports in `hello-ok` and `status`.
    pub version: String,
    /// How long a new connection may take to send `connect` before it is closed. Default 10 s.
    pub handshake_timeout: Duration,
    /// The `processMemory.rssBytes` that `status` reports for an idle gateway; every session adds
    /// 1 MiB. Default 800 MB, the order of a real gateway.
    pub rss_bytes: u64,
    /// Where to record every run's start and end (see [`RunJournal`]). Default none.
    pub journal: Option<RunJournal>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            token: None,
            agents: vec!["main".to_owned()],
            run_duration: Duration::from_millis(20),
            slow_duration: Duration::from_secs(10),
            deltas_per_run: 2,
            reply_text: "Hello from the simulator.".to_owned(),
            failure_rate: 0.0,
            failure_kind: FailureKind::Provider,
            seed: 0x5EED_0C1A_u64,
            startup_window: Duration::ZERO,
            startup_refusals: 0,
            tick_interval: Duration::from_secs(30),
            agent_capacity: None,
            capacity_retry_after: Duration::from_millis(500),
            drop_rate: 0.0,
            hang: false,
            version: "2026.9.6".to_owned(),
            handshake_timeout: Duration::from_secs(10),
            rss_bytes: 800_000_000,
            journal: None,
        }
    }
}

impl SimConfig {
    /// Requires this shared token in `connect`.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Hosts these agents (the first is the default agent).
    #[must_use]
    pub fn with_agents<I, S>(mut self, agents: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.agents = agents.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the duration of a normal run.
    #[must_use]
    pub fn with_run_duration(mut self, duration: Duration) -> Self {
        self.run_duration = duration;
        self
    }

    /// Sets the duration of a `SLOW` run.
    #[must_use]
    pub fn with_slow_duration(mut self, duration: Duration) -> Self {
        self.slow_duration = duration;
        self
    }

    /// Sets the number of assistant deltas per run.
    #[must_use]
    pub fn with_deltas_per_run(mut self, deltas: u32) -> Self {
        self.deltas_per_run = deltas;
        self
    }

    /// Sets the final reply text.
    #[must_use]
    pub fn with_reply_text(mut self, text: impl Into<String>) -> Self {
        self.reply_text = text.into();
        self
    }

    /// Fails this fraction of runs with `kind`.
    #[must_use]
    pub fn with_failure_rate(mut self, rate: f64, kind: FailureKind) -> Self {
        self.failure_rate = rate;
        self.failure_kind = kind;
        self
    }

    /// Sets the seed of the random generator.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Answers `UNAVAILABLE` during `window` after each (re)start and to the first `refusals`
    /// connects.
    #[must_use]
    pub fn with_startup(mut self, window: Duration, refusals: u32) -> Self {
        self.startup_window = window;
        self.startup_refusals = refusals;
        self
    }

    /// Sets the `tick` interval.
    #[must_use]
    pub fn with_tick_interval(mut self, interval: Duration) -> Self {
        self.tick_interval = interval;
        self
    }

    /// Limits unfinished runs per agent (a simulator knob; see [`SimConfig::agent_capacity`]).
    #[must_use]
    pub fn with_agent_capacity(mut self, capacity: u32) -> Self {
        self.agent_capacity = Some(capacity);
        self
    }

    /// Drops the starting connection of this fraction of runs abruptly during the run.
    #[must_use]
    pub fn with_drop_rate(mut self, rate: f64) -> Self {
        self.drop_rate = rate;
        self
    }

    /// Starts in hang mode.
    #[must_use]
    pub fn with_hang(mut self, hang: bool) -> Self {
        self.hang = hang;
        self
    }

    /// Sets the reported version.
    #[must_use]
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The default agent: the first configured one, or `main` when the list is empty.
    pub(crate) fn default_agent(&self) -> &str {
        self.agents.first().map_or("main", String::as_str)
    }

    /// The tick interval, between 1 ms and one day (so timer arithmetic cannot overflow).
    pub(crate) fn tick(&self) -> Duration {
        clamp(self.tick_interval).max(Duration::from_millis(1))
    }

    /// The handshake timeout, at most one day.
    pub(crate) fn handshake_limit(&self) -> Duration {
        clamp(self.handshake_timeout)
    }

    /// The agents, never empty.
    pub(crate) fn agent_ids(&self) -> Vec<String> {
        if self.agents.is_empty() {
            vec!["main".to_owned()]
        } else {
            self.agents.clone()
        }
    }
}

/// Caps a configured duration at one day, far beyond any test, so `Instant + duration` is safe.
fn clamp(duration: Duration) -> Duration {
    duration.min(Duration::from_secs(86_400))
}
