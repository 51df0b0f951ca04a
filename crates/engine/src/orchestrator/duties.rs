//! The leader's periodic duties: promote due tasks, reap expired leases, purge old dead letters
//! and finished tasks, expire sessions, probe instance health (with failover of instances that
//! go unhealthy), and run the autoscaler. Non-leaders only try to become leader.

use std::sync::Arc;
use std::time::Duration;

use godel_federation::{
    Candidate, FleetSnapshot, HealthChange, ScaleDecision, SessionPlacement, plan_failover,
};
use godel_lifecycle::{AgentRecord, SessionCommand, SessionFilter};
use godel_queue::{Requeued, TaskStatus};
use godel_types::{
    AgentId, EventBody, InstanceEvent, InstanceEventKind, InstanceHealth, InstanceId, SystemEvent,
    SystemEventKind, TaskEventKind,
};
use tokio::sync::watch;
use tokio::time::{MissedTickBehavior, interval};

use crate::engine::{Inner, StopReason};
use crate::orchestrator::session::transition;

/// Runs until `stop` turns true.
pub(crate) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let duties = &inner.config.duties;
    let mut lead = ticker(duties.leader_ttl / 3);
    let mut promote = ticker(duties.promote_interval);
    let mut reap = ticker(duties.reap_interval);
    let mut purge = ticker(duties.purge_interval);
    let mut probe = ticker(inner.config.health.probe_interval);
    let mut scale = ticker(duties.autoscale_interval);
    let mut leader = false;
    loop {
        tokio::select! {
            () = crate::engine::stopped(&mut stop) => break,
            _ = lead.tick() => leader = acquire(&inner).await,
            _ = promote.tick(), if leader => promote_due(&inner).await,
            _ = reap.tick(), if leader => reap_expired(&inner).await,
            _ = purge.tick(), if leader => purge_old(&inner).await,
            _ = probe.tick(), if leader => probe_all(&inner).await,
            _ = scale.tick(), if leader && inner.config.autoscale.enabled => autoscale(&inner).await,
        }
    }
    tracing::debug!("duties loop stopped");
}

fn ticker(period: Duration) -> tokio::time::Interval {
    let mut t = interval(period.max(Duration::from_millis(10)));
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

async fn acquire(inner: &Inner) -> bool {
    match inner
        .leader
        .acquire(&inner.config.replica, inner.config.duties.leader_ttl)
        .await
    {
        Ok(term) => term.is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "leader lease unavailable; acting as follower");
            false
        }
    }
}

async fn promote_due(inner: &Inner) {
    match inner.stores.queue.promote_due().await {
        Ok(0) => {}
        Ok(_) => inner.wake.notify_one(),
        Err(e) => tracing::warn!(error = %e, "promoting due tasks failed"),
    }
    expire_sessions(inner).await;
}

/// Times out sessions whose state lasted past its deadline.
async fn expire_sessions(inner: &Inner) {
    let now = inner.clock.now();
    let filter = SessionFilter {
        open_only: true,
        ..SessionFilter::default()
    };
    let Ok(sessions) = inner.stores.sessions.list(&filter, None, 10_000).await else {
        return;
    };
    for mut session in sessions {
        if session.deadline.is_some_and(|d| d <= now)
            && let Some(event) = session.expire_if_due(now, &inner.config.sessions)
            && inner.stores.sessions.update(&session).await.is_ok()
        {
            inner.bus.publish(event);
            crate::orchestrator::session::sync_ready(inner, &session);
        }
    }
}

async fn reap_expired(inner: &Inner) {
    match inner.stores.queue.reap_expired().await {
        Ok(requeued) if requeued.is_empty() => {}
        Ok(requeued) => {
            requeued_events(inner, &requeued, "lease expired").await;
            inner.wake.notify_one();
        }
        Err(e) => tracing::warn!(error = %e, "reaping expired leases failed"),
    }
}

/// Stops the local runs of recovered leases and publishes where each task went.
pub(crate) async fn requeued_events(inner: &Inner, requeued: &[Requeued], why: &str) {
    for r in requeued {
        if let Some(control) = inner.runs().get(&r.task) {
            let _ = control.stop.send(Some(StopReason::FailedOver));
        }
        let Ok(record) = inner.stores.queue.get(r.task).await else {
            continue;
        };
        let kind = match r.status {
            TaskStatus::DeadLetter => TaskEventKind::DeadLettered,
            TaskStatus::Cancelled => TaskEventKind::Cancelled,
            _ => TaskEventKind::Retried,
        };
        inner.publish_task(kind, &record, |e| {
            e.agent_id = Some(r.agent.clone());
            e.message = Some(why.to_owned());
        });
    }
}

async fn purge_old(inner: &Inner) {
    let duties = &inner.config.duties;
    if let Err(e) = inner
        .stores
        .queue
        .purge_dead_letters(duties.dead_letter_retention)
        .await
    {
        tracing::warn!(error = %e, "purging dead letters failed");
    }
    if let Err(e) = inner
        .stores
        .queue
        .purge_finished(duties.finished_retention)
        .await
    {
        tracing::warn!(error = %e, "purging finished tasks failed");
    }
}

/// Probes every instance once (concurrently, each under the probe timeout) and acts on the
/// health changes.
pub(crate) async fn probe_all(inner: &Inner) {
    let targets: Vec<_> = {
        let fleet = inner.fleet.lock();
        fleet
            .instances
            .values()
            .map(|slot| (slot.instance.id, Arc::clone(&slot.gateway)))
            .collect()
    };
    let timeout = inner.config.health.probe_timeout;
    let probes = targets.into_iter().map(|(id, gateway)| async move {
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(timeout, gateway.health()).await;
        if matches!(result, Ok(Ok(_))) {
            metrics::histogram!(crate::metrics::AGENT_HEARTBEAT_LATENCY)
                .record(started.elapsed().as_secs_f64());
        }
        (id, result)
    });
    let results = join_all(probes).await;
    for (id, result) in results {
        let now = inner.clock.now();
        let (change, report) = {
            let mut fleet = inner.fleet.lock();
            let Some(slot) = fleet.instances.get_mut(&id) else {
                continue;
            };
            let mut change = match &result {
                Ok(Ok(health)) if health.ok => {
                    slot.instance.last_heartbeat = Some(now);
                    slot.instance.load = health.sessions;
                    slot.tracker.on_success(now, health.degraded)
                }
                Ok(Ok(_)) => slot.tracker.on_failure(now, "gateway reports not ok"),
                Ok(Err(e)) => slot.tracker.on_failure(now, &e.to_string()),
                Err(_) => slot.tracker.on_failure(now, "health probe timed out"),
            };
            if change.is_none() {
                change = slot.tracker.on_tick(now);
            }
            if let Some(c) = &change {
                slot.instance.health = c.to;
            }
            (change, result.ok().and_then(Result::ok))
        };
        if let Some(change) = change {
            on_health_change(inner, id, &change, report).await;
        }
    }
}

async fn on_health_change(
    inner: &Inner,
    id: InstanceId,
    change: &HealthChange,
    report: Option<godel_lifecycle::GatewayHealth>,
) {
    let instance = inner
        .fleet
        .lock()
        .instances
        .get(&id)
        .map(|s| s.instance.clone());
    let Some(instance) = instance else { return };
    if let Err(e) = inner.stores.instances.update(instance.clone()).await {
        tracing::warn!(error = %e, instance = %id, "storing instance health failed");
    }
    tracing::info!(instance = %id, from = %change.from, to = %change.to, reason = %change.reason, "instance health changed");
    inner.publish(
        None,
        EventBody::Instance(
            InstanceEventKind::HealthChange,
            InstanceEvent {
                id,
                endpoint: instance.endpoint.clone(),
                health: change.to,
                previous: Some(change.from),
                reason: Some(change.reason.clone()),
            },
        ),
    );
    match change.to {
        InstanceHealth::Healthy => {
            if let Some(report) = report {
                discover_agents(inner, &instance, &report).await;
            }
            set_agents_status(inner, id, godel_types::AgentStatus::Idle).await;
            inner.wake.notify_one();
        }
        InstanceHealth::Unhealthy => {
            set_agents_status(inner, id, godel_types::AgentStatus::Offline).await;
            fail_over(inner, id, &change.reason).await;
        }
        InstanceHealth::Degraded | InstanceHealth::Unknown => {}
    }
}

/// Registers the agents a newly healthy gateway reports that Godel does not know yet.
async fn discover_agents(
    inner: &Inner,
    instance: &godel_federation::Instance,
    report: &godel_lifecycle::GatewayHealth,
) {
    let known = !inner.fleet.lock().agents_on(instance.id).is_empty();
    if known || report.agents.is_empty() {
        return;
    }
    let count = u32::try_from(report.agents.len()).unwrap_or(u32::MAX);
    let capacity = (instance.max_sessions / count).max(1);
    for gw_agent in &report.agents {
        let Ok(id) = AgentId::parse(&format!("{}:{}", instance.id, gw_agent.id)) else {
            continue;
        };
        let record = AgentRecord::new(
            id,
            instance.id,
            gw_agent.id.clone(),
            instance.capabilities.clone(),
            capacity,
            inner.clock.now(),
        );
        if let Err(e) = crate::services::agents::add(inner, record).await {
            tracing::warn!(error = %e, "registering a discovered agent failed");
        }
    }
}

async fn set_agents_status(inner: &Inner, instance: InstanceId, status: godel_types::AgentStatus) {
    let now = inner.clock.now();
    let changed: Vec<_> = {
        let mut fleet = inner.fleet.lock();
        fleet
            .agents
            .values_mut()
            .filter(|slot| slot.record.instance == instance)
            .filter_map(|slot| match slot.record.set_status(status, 0, now) {
                Ok(Some(event)) => Some((slot.record.clone(), event)),
                _ => None,
            })
            .collect()
    };
    for (record, event) in changed {
        let _ = inner.stores.agents.update(&record).await;
        inner.bus.publish(event);
    }
}

/// Fails an unhealthy instance over: its agents' leases go back to the queue, their local runs
/// stop, its open sessions are re-pointed to agents elsewhere (or marked `error`).
pub(crate) async fn fail_over(inner: &Inner, instance: InstanceId, reason: &str) {
    let agents = inner.fleet.lock().agents_on(instance);
    for agent in &agents {
        match inner.stores.queue.fail_over(agent, reason).await {
            Ok(requeued) => requeued_events(inner, &requeued, reason).await,
            Err(e) => tracing::error!(error = %e, agent = %agent, "failover of leases failed"),
        }
    }
    let filter = SessionFilter {
        instance: Some(instance),
        open_only: true,
        ..SessionFilter::default()
    };
    let sessions = inner
        .stores
        .sessions
        .list(&filter, None, 100_000)
        .await
        .unwrap_or_default();
    let placements: Vec<_> = sessions
        .iter()
        .map(|s| SessionPlacement {
            session: s.id,
            agent: s.agent.clone(),
            instance: s.instance,
            state: s.state,
        })
        .collect();
    let candidates: Vec<_> = {
        let fleet = inner.fleet.lock();
        fleet
            .snapshots(inner.clock.now())
            .into_iter()
            .filter(|a| a.available && a.instance != instance)
            .map(|a| Candidate {
                free: a.free(),
                agent: a.id,
                instance: a.instance,
                capabilities: a.capabilities,
            })
            .collect()
    };
    let plan = plan_failover(instance, &agents, &placements, &candidates);
    for (session_id, new_agent) in &plan.repoint {
        let Some(mut session) = sessions.iter().find(|s| s.id == *session_id).cloned() else {
            continue;
        };
        let route = inner.fleet.lock().route(new_agent);
        let Some(route) = route else { continue };
        let key = godel_lifecycle::SessionKey::for_session(&route.gateway_agent, session.id);
        let migrate = SessionCommand::Migrate {
            agent: new_agent.clone(),
            instance: route.instance,
            key,
        };
        if transition(inner, &mut session, migrate).await.is_ok()
            && let Err(e) = transition(inner, &mut session, SessionCommand::Migrated).await
        {
            tracing::warn!(error = %e, session = %session.id, "session migration did not finish");
        }
    }
    for (session_id, state) in &plan.mark_sessions {
        if *state != godel_types::SessionState::Error {
            continue;
        }
        if let Some(mut session) = sessions.iter().find(|s| s.id == *session_id).cloned() {
            let _ = transition(
                inner,
                &mut session,
                SessionCommand::Error {
                    reason: format!("instance {instance} unhealthy: {reason}"),
                },
            )
            .await;
        }
    }
    inner.wake.notify_one();
}

async fn autoscale(inner: &Inner) {
    let instances = inner.stores.instances.list().await.unwrap_or_default();
    let queue_depth = match inner.stores.queue.depth().await {
        Ok(d) => d.total(),
        Err(_) => return,
    };
    let fleet = FleetSnapshot {
        instances,
        queue_depth,
    };
    let decision = inner
        .autoscaler
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .evaluate(&fleet, inner.clock.now());
    let message = match &decision {
        ScaleDecision::Hold { .. } => return,
        other => other.reason().to_owned(),
    };
    inner.publish(
        None,
        EventBody::System(
            SystemEventKind::Alert,
            SystemEvent {
                message: format!("autoscaler: {message}"),
            },
        ),
    );
    let Some(provisioner) = &inner.provisioner else {
        tracing::info!(decision = ?decision, "autoscaler decided; no provisioner configured");
        return;
    };
    match decision {
        ScaleDecision::ScaleOut { count, .. } => {
            for _ in 0..count {
                let request = godel_federation::ProvisionRequest {
                    region: inner.config.dispatch.region.clone(),
                    zone: None,
                    capabilities: godel_types::Capabilities::none(),
                    max_sessions: 4,
                };
                match provisioner.start(request).await {
                    Ok(provisioned) => {
                        if let Err(e) =
                            crate::services::instances::add(inner, provisioned.id, provisioned.spec)
                                .await
                        {
                            tracing::warn!(error = %e, "registering a provisioned instance failed");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "provisioning an instance failed"),
                }
            }
        }
        ScaleDecision::ScaleIn { drain, .. } => {
            if let Some(slot) = inner.fleet.lock().instances.get_mut(&drain) {
                slot.instance.draining = true;
            }
            if let Err(e) = provisioner.stop(drain).await {
                tracing::warn!(error = %e, instance = %drain, "stopping a drained instance failed");
            }
        }
        ScaleDecision::Hold { .. } => {}
    }
}

/// Awaits every future, concurrently, in order of the input.
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    // Probes are few (tens) and bounded by the probe timeout; run them concurrently by
    // polling them together.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}
