//! The dispatch loop: woken by submissions, finished runs and promotions (no busy polling;
//! an idle wake-up catches scheduled tasks falling due), it offers work to agents in the
//! router's order and starts a follower for every lease it gets.

use std::sync::Arc;

use godel_queue::Lease;
use godel_types::{AgentId, TaskEventKind};
use tokio::sync::watch;

use crate::engine::{Inner, RunControl};
use crate::orchestrator::run;

/// Runs until `stop` turns true.
pub(crate) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    loop {
        let woken = inner.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if *stop.borrow() {
            break;
        }
        dispatch_round(&inner, &stop).await;
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(inner.config.dispatch.idle_wake) => {}
            () = crate::engine::stopped(&mut stop) => break,
        }
    }
    tracing::debug!("dispatch loop stopped");
}

/// One pass over the agents that can take work: each claims up to its free slots.
pub(crate) async fn dispatch_round(inner: &Arc<Inner>, stop: &watch::Receiver<bool>) {
    let now = inner.clock.now();
    let order = inner
        .fleet
        .dispatch_order(now, inner.config.dispatch.region.as_deref());
    for agent in order {
        if *stop.borrow() {
            return;
        }
        let (free, eligibility) = {
            let fleet = inner.fleet.lock();
            (fleet.free(&agent), fleet.eligibility(&agent))
        };
        let Some(eligibility) = eligibility else {
            continue;
        };
        if free == 0 {
            continue;
        }
        let leases = match inner
            .stores
            .queue
            .claim(&agent, &eligibility, free as usize)
            .await
        {
            Ok(leases) => leases,
            Err(e) => {
                tracing::warn!(error = %e, agent = %agent, "claim failed");
                metrics::counter!(crate::metrics::ERRORS, "type" => "claim", "component" => "dispatch")
                    .increment(1);
                return;
            }
        };
        for lease in leases {
            launch(inner, agent.clone(), lease);
        }
    }
}

/// Books the lease on the agent and starts following it.
fn launch(inner: &Arc<Inner>, agent: AgentId, lease: Lease) {
    let instance = {
        let mut fleet = inner.fleet.lock();
        if let Err(e) = fleet.ledger.assign(&agent) {
            tracing::error!(error = %e, agent = %agent, "load ledger refused an assignment");
        }
        fleet.agents.get(&agent).map(|a| a.record.instance)
    };
    inner.publish_task(TaskEventKind::Assigned, &lease.task, |e| {
        e.agent_id = Some(agent.clone());
        e.instance_id = instance;
    });
    let (stop, stop_rx) = watch::channel(None);
    inner.runs().insert(
        lease.task.id,
        RunControl {
            fence: lease.token.fence,
            stop,
        },
    );
    tokio::spawn(run::follow(Arc::clone(inner), agent, lease, stop_rx));
}
