//! The gauge sampler: a loop that reads the engine's state and sets the gauges of PRD 12.1
//! (`dash_queue_depth`, `dash_agents_connected`, `dash_agent_load_percent`,
//! `dash_sessions_active`). A label set that disappears (a tenant's queue emptied, an agent
//! left) is set to 0 once rather than left at its last value.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use godel_engine::Engine;
use godel_lifecycle::SessionFilter;
use godel_types::{AgentStatus, Priority, SessionId};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::names;

/// The `tenant` label of fleet-wide gauges: agents belong to no tenant.
pub const FLEET: &str = "fleet";

/// Open sessions counted per sample at most; past it the counts are partial (and logged).
const MAX_SESSIONS_SCANNED: usize = 20_000;

/// Sessions read per store call.
const SESSION_PAGE: usize = 500;

/// Shortest sampling interval used, whatever is asked.
const MIN_EVERY: Duration = Duration::from_millis(10);

/// Spawns the sampler: every `every`, sets `dash_queue_depth{priority,tenant}` from the queue,
/// `dash_agents_connected{status,tenant="fleet"}` and `dash_agent_load_percent{agent_id}` from
/// the agents and the engine's load ledger, and `dash_sessions_active{status,tenant}` from the
/// open sessions; then runs the exporter's histogram upkeep. Runs until the handle is aborted.
/// A store that fails a read leaves that gauge at its last value until the next tick.
pub fn spawn_gauge_sampler(engine: Engine, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every.max(MIN_EVERY));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seen = Seen::default();
        loop {
            ticker.tick().await;
            sample(&engine, &mut seen).await;
            super::exporter::upkeep();
        }
    })
}

/// A gauge's labels, as (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// The label sets set on the previous tick, to zero those that disappear.
#[derive(Debug, Default)]
struct Seen {
    depth: BTreeSet<Labels>,
    load: BTreeSet<Labels>,
    sessions: BTreeSet<Labels>,
}

/// Samples every gauge once.
async fn sample(engine: &Engine, seen: &mut Seen) {
    match engine.tasks().depth().await {
        Ok(depth) => {
            let mut values = BTreeMap::new();
            for (tenant, counts) in &depth.by_tenant {
                for priority in Priority::ALL {
                    let labels = vec![
                        ("priority", priority.as_str().to_owned()),
                        ("tenant", tenant.to_string()),
                    ];
                    #[allow(clippy::cast_precision_loss)]
                    values.insert(labels, counts[priority.rank()] as f64);
                }
            }
            set(names::QUEUE_DEPTH, &mut seen.depth, values);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the queue depth failed"),
    }

    match engine.agents().list().await {
        Ok(agents) => {
            for status in AgentStatus::ALL {
                let count = agents.iter().filter(|a| a.status == *status).count();
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!(
                    names::AGENTS_CONNECTED,
                    "status" => status.as_str(),
                    "tenant" => FLEET
                )
                .set(count as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: listing agents failed"),
    }

    let ledger = engine.agents().ledger();
    let load = ledger
        .iter()
        .map(|(agent, load)| {
            (
                vec![("agent_id", agent.to_string())],
                load.utilisation() * 100.0,
            )
        })
        .collect();
    set(names::AGENT_LOAD, &mut seen.load, load);

    if let Some(sessions) = open_sessions(engine).await {
        set(names::SESSIONS_ACTIVE, &mut seen.sessions, sessions);
    }
}

/// Open sessions by state and tenant, read page by page from the session store (the session
/// service only lists one tenant's); `None` when the store fails.
async fn open_sessions(engine: &Engine) -> Option<BTreeMap<Labels, f64>> {
    let filter = SessionFilter {
        open_only: true,
        ..SessionFilter::default()
    };
    let mut counts = BTreeMap::<Labels, f64>::new();
    let mut after: Option<SessionId> = None;
    let mut scanned = 0;
    loop {
        let page = match engine
            .stores()
            .sessions
            .list(&filter, after, SESSION_PAGE)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: listing open sessions failed");
                return None;
            }
        };
        scanned += page.len();
        for session in &page {
            let labels = vec![
                ("status", session.state.as_str().to_owned()),
                ("tenant", session.tenant.to_string()),
            ];
            *counts.entry(labels).or_default() += 1.0;
        }
        match page.last() {
            Some(last) if page.len() == SESSION_PAGE && scanned < MAX_SESSIONS_SCANNED => {
                after = Some(last.id);
            }
            Some(_) if page.len() == SESSION_PAGE => {
                tracing::warn!(
                    scanned,
                    "metrics: too many open sessions to count; dash_sessions_active is partial"
                );
                return Some(counts);
            }
            _ => return Some(counts),
        }
    }
}

/// Sets `name` to each value of `values`, and to 0 for label sets seen last time but gone now.
fn set(name: &'static str, seen: &mut BTreeSet<Labels>, values: BTreeMap<Labels, f64>) {
    for gone in seen.iter().filter(|labels| !values.contains_key(*labels)) {
        metrics::gauge!(name, to_labels(gone)).set(0.0);
    }
    for (labels, value) in &values {
        metrics::gauge!(name, to_labels(labels)).set(*value);
    }
    *seen = values.into_keys().collect();
}

fn to_labels(labels: &Labels) -> Vec<metrics::Label> {
    labels
        .iter()
        .map(|(key, value)| metrics::Label::new(*key, value.clone()))
        .collect()
}
