//! [`Rig`]: the stage of a chaos scenario: out-of-process simulated gateways (with run journals)
//! registered in a `godel.toml`, a `godel-server` using them, and a [`Client`] of it; plus
//! [`Rig::settle_and_check`], the check every scenario ends with.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::chaos::journal::JournalReport;
use crate::chaos::load::{
    Client, Ledger, TerminalTally, assert_terminal_states_stable, status_counts,
    try_wait_all_terminal,
};
use crate::chaos::sims::{SimProcess, gateways_toml};
use crate::server::{ServerOptions, TestServer};

/// How long settled tasks are watched for a second, unexpected change of state.
const STABLE_WINDOW: Duration = Duration::from_secs(2);

/// Sessions each simulated gateway is registered with.
pub const MAX_SESSIONS: u32 = 4;

/// Simulators, a server using them, and a client.
#[derive(Debug)]
pub struct Rig {
    /// The simulated gateways, in registration order.
    pub sims: Vec<SimProcess>,
    /// The server.
    pub server: TestServer,
    /// A client of the server (repointed by [`Rig::restart_server`]).
    pub client: Client,
    dir: TempDir,
}

impl Rig {
    /// Starts `gateways` simulators whose runs last `run_ms`, then a server with `options`
    /// plus a `godel.toml` registering them (and rate limits out of the way), and waits until
    /// every instance is healthy.
    ///
    /// # Panics
    /// When something does not start, or an instance is not healthy within 30 s.
    pub async fn start(gateways: usize, run_ms: u64, options: ServerOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("godel-chaos-")
            .tempdir()
            .expect("a temporary folder");
        let sims: Vec<SimProcess> = (0..gateways)
            .map(|i| SimProcess::start(&format!("sim{i}"), dir.path(), run_ms))
            .collect();
        let config = dir.path().join("godel.toml");
        let refs: Vec<&SimProcess> = sims.iter().collect();
        std::fs::write(&config, gateways_toml(&refs, MAX_SESSIONS)).expect("write godel.toml");
        let options = options
            .arg("--config")
            .arg(config.to_string_lossy())
            .env("GODEL_RATE_PER_SECOND", "100000")
            .env("GODEL_RATE_BURST", "100000")
            .shutdown_grace_s(1);
        let server = TestServer::start(options).await;
        let client = Client::new(server.url(), server.admin_key());
        let rig = Self {
            sims,
            server,
            client,
            dir,
        };
        for sim in &rig.sims {
            rig.wait_instance(sim, Duration::from_secs(30), |h| h == "healthy")
                .await;
        }
        rig
    }

    /// Waits until the instance of `sim` has a health accepted by `done`; how long it took.
    ///
    /// # Panics
    /// After `limit`, with the health last seen.
    pub async fn wait_instance(
        &self,
        sim: &SimProcess,
        limit: Duration,
        done: impl Fn(&str) -> bool,
    ) -> Duration {
        let started = tokio::time::Instant::now();
        loop {
            let health = self.client.instance_health(&sim.endpoint()).await;
            if health.as_deref().is_some_and(&done) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "instance {} ({}) still {health:?} after {limit:?}\n{}",
                sim.name(),
                sim.endpoint(),
                self.server.output_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts the server again on the same data after a crash and repoints the client.
    pub async fn restart_server(&mut self) {
        self.server.restart().await;
        self.client.repoint(self.server.url());
    }

    /// What every simulator's journals say so far.
    #[must_use]
    pub fn journal(&self) -> JournalReport {
        JournalReport::read(self.sims.iter().flat_map(SimProcess::incarnations))
    }

    /// The folder of the journals and the configuration.
    #[must_use]
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The check every scenario ends with: every task of `ledger` reaches a terminal state within
    /// `limit` and stays there; no task has two terminal events (`tally`, when the event stream
    /// could follow the whole scenario); a completed task was run to success by a gateway; and
    /// the journals show no task with two runs at once. Prints a summary under `label`; returns
    /// the tasks' final views.
    ///
    /// # Panics
    /// When any of these does not hold.
    pub async fn settle_and_check(
        &self,
        label: &str,
        ledger: &Ledger,
        tally: Option<&TerminalTally>,
        limit: Duration,
    ) -> BTreeMap<String, Value> {
        assert!(
            !ledger.accepted.is_empty(),
            "{label}: no submission was accepted; refused: {:?}",
            ledger.refused.iter().take(5).collect::<Vec<_>>()
        );
        let started = tokio::time::Instant::now();
        let tasks = match try_wait_all_terminal(&self.client, &ledger.accepted, limit).await {
            Ok(tasks) => tasks,
            Err((stuck, message)) => {
                let journal = self.journal();
                let runs: Vec<String> = stuck
                    .iter()
                    .take(5)
                    .map(|id| format!("{id}: {:?}", journal.runs_of(id)))
                    .collect();
                panic!(
                    "{label}: {message}\ntheir runs on the gateways (first 5):\n{}\n{}",
                    runs.join("\n"),
                    self.server.output_tail()
                );
            }
        };
        let drained = started.elapsed();
        // Terminal states must stay terminal: look again after a quiet window.
        tokio::time::sleep(STABLE_WINDOW).await;
        assert_terminal_states_stable(&self.client, &tasks).await;
        if let Some(tally) = tally {
            let repeated = tally.repeated();
            assert!(
                repeated.is_empty(),
                "{label}: tasks with more than one terminal event: {repeated:?}"
            );
        }
        let journal = self.journal();
        assert!(
            journal.overlaps.is_empty(),
            "{label}: tasks ran twice at once:\n{}",
            journal.describe_overlaps()
        );
        for (id, task) in &tasks {
            if task["status"] == "completed" {
                assert!(
                    journal
                        .runs_of(id)
                        .iter()
                        .any(|r| r.outcome.as_deref() == Some("ok")),
                    "{label}: task {id} is completed but no gateway ran it to success: {:?}",
                    journal.runs_of(id)
                );
            }
        }
        let dead: Vec<String> = tasks
            .values()
            .filter(|t| t["status"] != "completed")
            .map(|t| format!("{} {}: {}", t["id"], t["status"], t["last_error"]))
            .collect();
        println!(
            "chaos[{label}]: accepted {} (refused {}), final {:?}, drained {:.1}s after the load; \
             gateway runs {}, tasks run more than once {}, completed on a gateway more than once \
             {}, overlapping runs {}",
            ledger.accepted.len(),
            ledger.refused.len(),
            status_counts(&tasks),
            drained.as_secs_f64(),
            journal.runs.len(),
            journal.tasks_run_more_than_once(),
            journal.tasks_completed_more_than_once(),
            journal.overlaps.len()
        );
        for line in dead.iter().take(10) {
            println!("chaos[{label}]:   not completed: {line}");
        }
        tasks
    }
}
