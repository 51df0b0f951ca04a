//! Fault injection (issue #7): the server, a gateway, Redis and Postgres fail under load, and a
//! gateway hangs. Each scenario ends with the same check: every task whose submit was answered
//! 2xx reaches exactly one terminal state and stays there, and the simulated gateways' run
//! journals (ground truth on the gateway side) show no task running twice at once.
//!
//! Gateways are `godel-openclaw-sim` processes (one per gateway, so one can be SIGKILLed and
//! started again on its port); Redis and Postgres are private servers started by the scenario.
//! Sizes follow `GODEL_CHAOS_SCALE` (`ci` by default, `full` under `cargo xtask chaos`). Timings
//! are printed (`chaos[...]` lines, `--nocapture` shows them); the only timed assertions are
//! generous bounds that state a requirement.

use std::time::Duration;

use godel_e2e::ServerOptions;
use godel_e2e::chaos::load::{chaos_task, wait_all_terminal};
use godel_e2e::chaos::{Load, OwnPostgres, OwnRedis, Rig, Scale, TerminalTally};
use serde_json::json;

/// The health probe interval of the engine (`HealthConfig::default`).
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// Missed probes in a row that make an instance unhealthy, which fails its work over
/// (`HealthConfig::default`).
const UNHEALTHY_AFTER: u32 = 3;

/// How long the queue's leases last (`QueueConfig::default`): a crashed server's tasks come
/// back after it, plus a reaper pass.
const LEASE_TTL: Duration = Duration::from_secs(30);

/// How long a stopped server, Redis or Postgres stays down while the load goes on: the fault's
/// length, not a wait for a condition (those poll with deadlines).
const OUTAGE: Duration = Duration::from_secs(2);

/// Attempts per chaos task: enough that the faults alone never exhaust them.
const ATTEMPTS: u32 = 10;

/// Postgres as truth, Redis as index: both private, so they can be broken.
struct OwnStores {
    postgres: OwnPostgres,
    redis: OwnRedis,
}

impl OwnStores {
    /// `None` (skipped) when a server binary is missing.
    async fn start() -> Option<Self> {
        let postgres = OwnPostgres::start()?;
        let redis = OwnRedis::start().await?;
        Some(Self { postgres, redis })
    }

    fn options(&self) -> ServerOptions {
        ServerOptions::default()
            .env("GODEL_DATABASE_URL", self.postgres.url())
            .env("GODEL_REDIS_URL", self.redis.url())
            .env("GODEL_REDIS_PREFIX", "chaos")
    }
}

/// Kill -9 of the server in the middle of the load, restart on the same data.
async fn server_killed_under_load(label: &str, options: ServerOptions) {
    let scale = Scale::from_env();
    let mut rig = Rig::start(2, scale.run_ms, options).await;
    let load = Load::start(&rig.client, scale, |i| chaos_task("kill9", i, ATTEMPTS));
    tokio::time::sleep(scale.load_duration() / 3).await;

    let mut running_at_kill = Vec::new();
    for run in rig.journal().runs.iter().filter(|r| r.end_ms.is_none()) {
        running_at_kill.push(run.task.clone());
    }
    let status = rig.server.kill9();
    let killed_at = tokio::time::Instant::now();
    tokio::time::sleep(OUTAGE / 2).await;
    rig.restart_server().await;
    let back_after = killed_at.elapsed();
    let ledger = load.finish().await;

    let tasks = rig
        .settle_and_check(label, &ledger, None, LEASE_TTL * 3)
        .await;
    let recovered_after = killed_at.elapsed();
    println!(
        "chaos[{label}]: killed ({status}) with {} runs open on the gateways; serving again \
         {:.1}s after the kill; every task terminal {:.1}s after it (lease TTL {}s)",
        running_at_kill.len(),
        back_after.as_secs_f64(),
        recovered_after.as_secs_f64(),
        LEASE_TTL.as_secs()
    );
    assert!(
        !running_at_kill.is_empty(),
        "{label}: the kill should catch runs in flight (else the scenario tests nothing)"
    );
    for task in running_at_kill.iter().filter(|t| tasks.contains_key(*t)) {
        assert!(
            tasks[task]["status"] == "completed",
            "{label}: task {task}, running at the kill, ended {:#}",
            tasks[task]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_with_sigkill_under_load_loses_no_accepted_task() {
    server_killed_under_load("kill9-sqlite", ServerOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgres_and_redis_a_server_killed_with_sigkill_loses_no_accepted_task() {
    let Some(stores) = OwnStores::start().await else {
        return;
    };
    server_killed_under_load("kill9-pg-redis", stores.options()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_gateway_s_tasks_fail_over_and_the_pool_heals_when_it_returns() {
    let label = "gateway-kill";
    let scale = Scale::from_env();
    // Runs long enough that the victim holds several when it dies.
    let run_ms = scale.run_ms * 4;
    let mut rig = Rig::start(3, run_ms, ServerOptions::default()).await;
    let tally = TerminalTally::subscribe(rig.server.url(), rig.server.admin_key()).await;
    let load = Load::start(&rig.client, scale, |i| {
        chaos_task("gateway-kill", i, ATTEMPTS)
    });

    // Kill the first gateway once it runs several tasks (or at least one after a while).
    let victim = rig.sims[0].endpoint().replace("ws://", "");
    let waited = tokio::time::Instant::now();
    loop {
        let open = rig
            .journal()
            .runs
            .iter()
            .filter(|r| r.gateway == victim && r.end_ms.is_none())
            .count();
        if open >= 3 || (open >= 1 && waited.elapsed() > scale.load_duration() / 2) {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the victim gateway never got a run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed_at_ms = rig.sims[0].kill9();
    let killed_at = tokio::time::Instant::now();
    let orphans: Vec<String> = rig
        .journal()
        .runs
        .iter()
        .filter(|r| r.gateway == victim && r.outcome.as_deref() == Some("killed"))
        .map(|r| r.task.clone())
        .collect();

    // Its tasks start again on the other gateways, at the latest once the instance is declared
    // unhealthy (`UNHEALTHY_AFTER` missed probes) and its leases are failed over.
    let limit = HEALTH_INTERVAL * (UNHEALTHY_AFTER + 1);
    let last_restart_ms = loop {
        let journal = rig.journal();
        let restarts: Vec<Option<u64>> = orphans
            .iter()
            .map(|task| {
                journal
                    .runs_of(task)
                    .iter()
                    .find(|r| r.gateway != victim && r.start_ms >= killed_at_ms)
                    .map(|r| r.start_ms)
            })
            .collect();
        if restarts.iter().all(Option::is_some) {
            break restarts.into_iter().flatten().max().unwrap_or(killed_at_ms);
        }
        assert!(
            killed_at.elapsed() < limit,
            "{label}: the killed gateway's tasks did not all start elsewhere within {limit:?} \
             ({} health intervals): {orphans:?}",
            UNHEALTHY_AFTER + 1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let failover = Duration::from_millis(last_restart_ms.saturating_sub(killed_at_ms));

    // The instance is seen unhealthy, then comes back whole on the same port.
    rig.wait_instance(&rig.sims[0], Duration::from_secs(60), |h| h == "unhealthy")
        .await;
    let seen_unhealthy = killed_at.elapsed();
    rig.sims[0].restart();
    let healed = rig
        .wait_instance(&rig.sims[0], Duration::from_secs(60), |h| h == "healthy")
        .await;
    let ledger = load.finish().await;
    println!(
        "chaos[{label}]: {} runs lost with the gateway; all restarted elsewhere {:.2}s after the \
         kill (health interval {}s); instance unhealthy after {:.1}s; pool whole {:.1}s after \
         the gateway restarted (target < 30s)",
        orphans.len(),
        failover.as_secs_f64(),
        HEALTH_INTERVAL.as_secs(),
        seen_unhealthy.as_secs_f64(),
        healed.as_secs_f64()
    );
    // Draining the queue takes tasks × run / (3 gateways × 4 sessions) at best.
    let drain = Duration::from_millis(run_ms * scale.tasks as u64 / 12);
    rig.settle_and_check(
        label,
        &ledger,
        Some(&tally),
        drain * 2 + Duration::from_secs(60),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_restarted_empty_under_load_degrades_health_then_recovers_losing_nothing() {
    let label = "redis-restart";
    let Some(mut stores) = OwnStores::start().await else {
        return;
    };
    let scale = Scale::from_env();
    let rig = Rig::start(2, scale.run_ms, stores.options()).await;
    let tally = TerminalTally::subscribe(rig.server.url(), rig.server.admin_key()).await;
    let load = Load::start(&rig.client, scale, |i| chaos_task("redis", i, ATTEMPTS));
    tokio::time::sleep(scale.load_duration() / 3).await;

    stores.redis.kill9();
    let degraded = rig
        .client
        .wait_health(
            "degraded with Redis down",
            Duration::from_secs(30),
            |s, b| s == "degraded" && b["checks"]["redis"]["status"] != "healthy",
        )
        .await;
    tokio::time::sleep(OUTAGE).await;
    stores.redis.restart().await;
    let recovered = rig
        .client
        .wait_health(
            "healthy with Redis back",
            Duration::from_secs(60),
            |s, b| s == "healthy" && b["checks"]["redis"]["status"] == "healthy",
        )
        .await;
    let ledger = load.finish().await;
    println!(
        "chaos[{label}]: /health degraded {:.1}s after Redis died; healthy {:.1}s after an \
         empty Redis came back",
        degraded.as_secs_f64(),
        recovered.as_secs_f64()
    );
    rig.settle_and_check(label, &ledger, Some(&tally), Duration::from_secs(120))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_under_load_makes_the_server_unready_then_it_recovers_losing_nothing() {
    let label = "postgres-restart";
    let Some(mut stores) = OwnStores::start().await else {
        return;
    };
    let scale = Scale::from_env();
    let rig = Rig::start(2, scale.run_ms, stores.options()).await;
    let tally = TerminalTally::subscribe(rig.server.url(), rig.server.admin_key()).await;
    let load = Load::start(&rig.client, scale, |i| chaos_task("postgres", i, ATTEMPTS));
    tokio::time::sleep(scale.load_duration() / 3).await;

    stores.postgres.stop_immediate();
    let unready = rig
        .client
        .wait_health(
            "unhealthy with Postgres down",
            Duration::from_secs(30),
            |s, b| s == "unhealthy" && b["checks"]["database"]["status"] != "healthy",
        )
        .await;
    let (ready_status, ready) = rig.client.get("/health/ready").await.unwrap_or_default();
    tokio::time::sleep(OUTAGE).await;
    stores.postgres.start_again();
    let recovered = rig
        .client
        .wait_health(
            "healthy with Postgres back",
            Duration::from_secs(60),
            |s, _| s == "healthy",
        )
        .await;
    let ledger = load.finish().await;
    println!(
        "chaos[{label}]: /health unhealthy {:.1}s after Postgres stopped (/health/ready {} \
         {}); healthy {:.1}s after it started again",
        unready.as_secs_f64(),
        ready_status,
        ready,
        recovered.as_secs_f64()
    );
    assert_eq!(
        ready_status, 503,
        "{label}: /health/ready while Postgres is down: {ready}"
    );
    rig.settle_and_check(label, &ledger, Some(&tally), Duration::from_secs(120))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_gateway_times_out_is_fenced_off_and_leaves_no_task_stuck() {
    let label = "gateway-hang";
    let scale = Scale::from_env();
    // Two failed calls in a row open a breaker (default 5), so that the few calls the hung
    // gateway gets before health checks fence it off are enough to show the breaker at work.
    let options = ServerOptions::default().env("GODEL_BREAKER_FAILURE_THRESHOLD", "2");
    let rig = Rig::start(3, scale.run_ms, options).await;
    let tally = TerminalTally::subscribe(rig.server.url(), rig.server.admin_key()).await;

    // Runs that never end by themselves (`HANG`) are timed out, aborted and retried until their
    // attempts run out.
    let mut hanging = Vec::new();
    for i in 0..3 {
        let mut task = chaos_task("HANG", i, 2);
        task["timeout_s"] = json!(2);
        hanging.push(
            rig.client
                .submit(&task)
                .await
                .expect("a HANG task is accepted"),
        );
    }
    let started = tokio::time::Instant::now();
    let ended = wait_all_terminal(&rig.client, &hanging, Duration::from_secs(60)).await;
    println!(
        "chaos[{label}]: {} never-ending runs (2 attempts, 2s timeout) dead-lettered within \
         {:.1}s",
        hanging.len(),
        started.elapsed().as_secs_f64()
    );
    for (id, task) in &ended {
        assert_eq!(
            task["status"], "dead_letter",
            "{label}: task {id}: {task:#}"
        );
        assert!(
            task["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("timed out")),
            "{label}: task {id} ends on its run timeout: {task:#}"
        );
    }

    // A gateway that hangs under load (accepts, never answers): its runs time out, it is
    // declared unhealthy and its work goes elsewhere.
    let load = Load::start(&rig.client, scale, |i| {
        let mut task = chaos_task("hang", i, ATTEMPTS);
        task["timeout_s"] = json!(5);
        task
    });
    tokio::time::sleep(scale.load_duration() / 3).await;
    rig.sims[0].hang();
    let unhealthy = rig
        .wait_instance(&rig.sims[0], Duration::from_secs(60), |h| h == "unhealthy")
        .await;
    let mut ledger = load.finish().await;
    println!(
        "chaos[{label}]: the hung instance was unhealthy {:.1}s after it hung (health interval \
         {}s, probe timeout 2s)",
        unhealthy.as_secs_f64(),
        HEALTH_INTERVAL.as_secs()
    );
    let under_load = ledger.accepted.clone();
    ledger.accepted.extend(hanging);
    let tasks = rig
        .settle_and_check(label, &ledger, Some(&tally), Duration::from_secs(150))
        .await;
    for id in &under_load {
        assert_eq!(
            tasks[id]["status"], "completed",
            "{label}: task {id}: {:#}",
            tasks[id]
        );
    }
    // The calls to the hung gateway that failed (sessions it never opened, aborts it never
    // answered) opened its circuit breaker.
    let metrics = rig.client.metrics().await.expect("/metrics answers");
    let opened: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("dash_circuit_breaker_transitions_total{") && l.contains(r#"to="open""#)
        })
        .collect();
    println!("chaos[{label}]: circuit-breaker openings: {opened:?}");
    assert!(
        !opened.is_empty(),
        "{label}: the hung gateway's circuit breaker never opened\n{metrics}"
    );
}
