//! Following one leased task: ready its session, start the run on the gateway, stream its
//! events as `task.progress`, keep the lease alive, and end the attempt exactly once
//! (complete, fail into retry or dead letter, cancel, time out, or give back on shutdown).

use std::sync::Arc;
use std::time::Duration;

use godel_lifecycle::{
    Gateway, RunEvent, RunFailure, RunId, RunOutcome, RunRecord, RunRequest, RunWait, SessionKey,
    TaskDetails,
};
use godel_queue::{ErrorKind, FailOutcome, Failure, Lease, LeaseToken, Payload};
use godel_types::{AgentEvent, AgentEventKind, AgentId, AgentStatus, EventBody, TaskEventKind};
use serde_json::json;
use tokio::sync::watch;

use crate::engine::{Inner, StopReason};
use crate::fleet::Route;
use crate::orchestrator::session::{self, NotReady, Prepared};

/// How an attempt ended, from the run's point of view.
enum Ending {
    Completed(Option<String>),
    Failed(RunFailure),
    TimedOut(Duration),
    /// Aborted on the gateway (by a cancel, or by the gateway itself).
    Aborted,
    /// The lease was lost (failover, expiry): someone else owns the task now.
    LeaseLost,
    /// Stopped by shutdown: the task goes back to the queue.
    Returned,
    /// The gateway was lost and the run's end could not be confirmed.
    GatewayLost(String),
}

/// Follows `lease` on `agent` to its end, then frees the agent's slot.
pub(crate) async fn follow(
    inner: Arc<Inner>,
    agent: AgentId,
    lease: Lease,
    stop: watch::Receiver<Option<StopReason>>,
) {
    let task = lease.task.id;
    attempt(&inner, &agent, &lease, stop).await;
    let load = {
        let mut fleet = inner.fleet.lock();
        if let Err(e) = fleet.ledger.release(&agent) {
            tracing::error!(error = %e, agent = %agent, "load ledger refused a release");
        }
        let load = fleet.ledger.load(&agent);
        fleet
            .agents
            .get(&agent)
            .map(|slot| (slot.record.clone(), load))
    };
    if let Some((record, load)) = load {
        inner.publish(
            None,
            EventBody::Agent(
                AgentEventKind::LoadChange,
                AgentEvent {
                    id: record.id,
                    instance_id: record.instance,
                    status: if load == 0 {
                        AgentStatus::Idle
                    } else {
                        AgentStatus::Busy
                    },
                    current_load: load,
                    max_capacity: record.max_capacity,
                },
            ),
        );
    }
    {
        let mut runs = inner.runs();
        if runs
            .get(&task)
            .is_some_and(|c| c.fence == lease.token.fence)
        {
            runs.remove(&task);
        }
    }
    inner.run_ended.notify_waiters();
    inner.wake.notify_one();
}

async fn attempt(
    inner: &Arc<Inner>,
    agent: &AgentId,
    lease: &Lease,
    mut stop: watch::Receiver<Option<StopReason>>,
) {
    let token = &lease.token;
    let record = &lease.task;
    let Some(route) = inner.fleet.lock().route(agent) else {
        give_back(inner, token, "agent left the fleet").await;
        return;
    };
    let allowed = {
        let now = inner.clock.now();
        let mut fleet = inner.fleet.lock();
        fleet
            .instances
            .get_mut(&route.instance)
            .is_some_and(|slot| slot.breaker.allow(now))
    };
    if !allowed {
        give_back(inner, token, "instance circuit open").await;
        return;
    }
    let details = inner
        .stores
        .tasks
        .get(&record.tenant, record.id)
        .await
        .unwrap_or_else(|_| {
            let mut d = TaskDetails::new(record.id, record.tenant.clone());
            d.team = record.group.map(godel_types::TeamId::from_uuid);
            d
        });
    let mut prepared = match session::prepare(inner, agent, &route, &details).await {
        Ok(p) => p,
        Err(NotReady::Release(why)) => {
            tracing::debug!(task = %record.id, why, "task not ready to run; given back");
            give_back(inner, token, &why).await;
            return;
        }
        Err(NotReady::Fail(failure)) => {
            end_attempt(inner, lease, failure).await;
            return;
        }
    };
    let run = RunId::for_attempt(record.id, token.fence);
    let timeout = details
        .timeout
        .unwrap_or(inner.config.dispatch.default_run_timeout);
    let request = RunRequest {
        session: prepared.session.key.clone(),
        agent: route.gateway_agent.clone(),
        message: prompt_of(&record.payload),
        run: run.clone(),
        timeout: Some(timeout),
        traceparent: None,
    };
    let handle = match route.gateway.start_run(request).await {
        Ok(h) => {
            breaker_result(inner, &route, true);
            h
        }
        Err(e) => {
            breaker_result(inner, &route, !e.is_gateway_fault());
            session::finish(inner, &mut prepared, e.is_gateway_fault()).await;
            if e.is_gateway_fault() {
                give_back(inner, token, &e.to_string()).await;
            } else {
                let mut failure = Failure {
                    message: e.to_string(),
                    retryable: e.is_retryable(),
                    retry_after: None,
                };
                failure.retry_after = e.retry_after();
                end_attempt(inner, lease, failure).await;
            }
            return;
        }
    };
    if let Err(e) = inner.stores.queue.start(token).await {
        tracing::warn!(error = %e, task = %record.id, "lease lost before the run started");
        let _ = route.gateway.abort(&prepared.session.key, Some(&run)).await;
        session::finish(inner, &mut prepared, false).await;
        return;
    }
    let started_at = inner.clock.now();
    let _ = inner
        .stores
        .tasks
        .add_run(
            &record.tenant,
            record.id,
            RunRecord {
                run: run.clone(),
                attempt: lease.attempt,
                agent: agent.clone(),
                instance: route.instance,
                session: prepared.session.id,
                started_at,
                ended_at: None,
                outcome: None,
            },
        )
        .await;
    let waited = (started_at - record.due_at.unwrap_or(record.created_at)).as_seconds_f64();
    metrics::histogram!(crate::metrics::DISPATCH_LATENCY).record(waited.max(0.0));
    inner.publish_task(TaskEventKind::Started, record, |e| {
        e.status = godel_types::TaskStatus::Running;
        e.agent_id = Some(agent.clone());
        e.instance_id = Some(route.instance);
        e.session_id = Some(prepared.session.id);
        e.run_id = Some(run.to_string());
    });

    let ending = watch_run(
        inner, lease, &route, &prepared, &run, handle, timeout, &mut stop,
    )
    .await;

    let outcome = match &ending {
        Ending::Completed(_) => RunOutcome::Completed,
        Ending::Failed(f) => RunOutcome::Failed {
            message: f.message.clone(),
        },
        Ending::TimedOut(_) => RunOutcome::TimedOut,
        Ending::Aborted => RunOutcome::Aborted,
        Ending::LeaseLost | Ending::Returned => RunOutcome::Lost {
            reason: "lease given up".into(),
        },
        Ending::GatewayLost(why) => RunOutcome::Lost {
            reason: why.clone(),
        },
    };
    let _ = inner
        .stores
        .tasks
        .end_run(&record.tenant, record.id, &run, outcome, inner.clock.now())
        .await;
    metrics::histogram!(crate::metrics::TASK_DURATION, "priority" => record.priority.as_str())
        .record((inner.clock.now() - started_at).as_seconds_f64().max(0.0));
    session::finish(
        inner,
        &mut prepared,
        matches!(ending, Ending::GatewayLost(_)),
    )
    .await;
    match ending {
        Ending::Completed(reply) => complete(inner, lease, reply).await,
        Ending::Failed(f) => {
            let failure = Failure {
                message: f.message,
                retryable: f.retryable,
                retry_after: None,
            };
            end_attempt(inner, lease, failure).await;
        }
        Ending::TimedOut(after) => {
            let failure = Failure::retryable(format!("run timed out after {}s", after.as_secs()));
            end_attempt(inner, lease, failure).await;
        }
        Ending::Aborted => {
            end_attempt(
                inner,
                lease,
                Failure::retryable("run aborted on the gateway"),
            )
            .await;
        }
        Ending::GatewayLost(why) => {
            breaker_result(inner, &route, false);
            end_attempt(inner, lease, Failure::retryable(why)).await;
        }
        Ending::Returned => give_back(inner, token, "engine shutting down").await,
        Ending::LeaseLost => {}
    }
}

/// Streams the run's events until it ends, keeping the lease alive and honouring cancel,
/// timeout and stop signals.
#[allow(clippy::too_many_arguments)]
async fn watch_run(
    inner: &Inner,
    lease: &Lease,
    route: &Route,
    prepared: &Prepared,
    run: &RunId,
    mut handle: godel_lifecycle::RunHandle,
    timeout: Duration,
    stop: &mut watch::Receiver<Option<StopReason>>,
) -> Ending {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut heartbeat = tokio::time::interval(inner.config.dispatch.heartbeat_interval);
    heartbeat.tick().await; // the first tick is immediate
    let mut output = String::new();
    let mut stop_open = true;
    let key = &prepared.session.key;
    loop {
        tokio::select! {
            event = handle.events.next() => match event {
                Some(RunEvent::Completed { reply }) => {
                    return Ending::Completed(reply.or_else(|| (!output.is_empty()).then(|| output.clone())));
                }
                Some(RunEvent::Failed(f)) => return Ending::Failed(f),
                Some(RunEvent::Aborted) => return Ending::Aborted,
                Some(RunEvent::Lost { reason }) => {
                    return confirm(inner, &*route.gateway, run, &reason).await;
                }
                None => return confirm(inner, &*route.gateway, run, "event stream ended").await,
                Some(RunEvent::Delta { text }) => output.push_str(&text),
                Some(progress) => {
                    let message = match &progress {
                        RunEvent::Started => "started".to_owned(),
                        RunEvent::Status { phase } => phase.clone(),
                        RunEvent::Tool { name, phase } => format!("tool {name} {phase}"),
                        _ => String::new(),
                    };
                    inner.publish_task(TaskEventKind::Progress, &lease.task, |e| {
                        e.status = godel_types::TaskStatus::Running;
                        e.run_id = Some(run.to_string());
                        e.message = Some(message);
                    });
                }
            },
            _ = heartbeat.tick() => match inner.stores.queue.heartbeat(&lease.token).await {
                Ok(beat) if beat.cancel_requested => {
                    abort(inner, route, key, run).await;
                    return Ending::Aborted;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::StaleLease || e.kind() == ErrorKind::NotFound => {
                    abort(inner, route, key, run).await;
                    return Ending::LeaseLost;
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat failed; will retry"),
            },
            () = tokio::time::sleep_until(deadline) => {
                abort(inner, route, key, run).await;
                return Ending::TimedOut(timeout);
            }
            changed = stop.changed(), if stop_open => {
                let reason = if changed.is_ok() { *stop.borrow() } else { None };
                match reason {
                    Some(StopReason::FailedOver) => {
                        abort(inner, route, key, run).await;
                        return Ending::LeaseLost;
                    }
                    Some(StopReason::Shutdown) => {
                        abort(inner, route, key, run).await;
                        return Ending::Returned;
                    }
                    Some(StopReason::Cancelled) => {
                        abort(inner, route, key, run).await;
                        return Ending::Aborted;
                    }
                    // The engine replaced this run's control (a newer attempt): stop listening.
                    None => stop_open = changed.is_ok(),
                }
            }
        }
    }
}

/// Asks the gateway to abort `run`. Best effort: the run ends here either way, but an abort the
/// gateway never answers (a hung gateway) counts against its circuit breaker.
async fn abort(inner: &Inner, route: &Route, key: &SessionKey, run: &RunId) {
    let result = route.gateway.abort(key, Some(run)).await;
    if let Err(e) = &result {
        tracing::debug!(error = %e, run = %run, "abort not confirmed by the gateway");
    }
    breaker_result(
        inner,
        route,
        result
            .as_ref()
            .map_or_else(|e| !e.is_gateway_fault(), |_| true),
    );
}

/// The event stream was lost: ask the gateway how the run ended.
async fn confirm(inner: &Inner, gateway: &dyn Gateway, run: &RunId, why: &str) -> Ending {
    match gateway.wait(run, inner.config.dispatch.wait_timeout).await {
        Ok(RunWait::Completed { reply }) => Ending::Completed(reply),
        Ok(RunWait::Failed(f)) => Ending::Failed(f),
        Ok(RunWait::Running) => {
            Ending::GatewayLost(format!("{why}; run still going, not followed"))
        }
        Err(e) => Ending::GatewayLost(format!("{why}; {e}")),
    }
}

/// Completes the task with the run's reply.
async fn complete(inner: &Inner, lease: &Lease, reply: Option<String>) {
    let result = Payload::new(json!({ "reply": reply }));
    match inner.stores.queue.ack(&lease.token, Some(result)).await {
        Ok(()) => {
            metrics::counter!(crate::metrics::TASKS_COMPLETED, "priority" => lease.task.priority.as_str(), "status" => "completed").increment(1);
            publish_current(inner, lease, TaskEventKind::Completed, None).await;
        }
        Err(e) => tracing::warn!(error = %e, task = %lease.task.id, "completion refused"),
    }
}

/// Ends the attempt as failed; publishes where that left the task.
pub(crate) async fn end_attempt(inner: &Inner, lease: &Lease, failure: Failure) {
    let message = failure.message.clone();
    match inner.stores.queue.fail(&lease.token, failure).await {
        Ok(outcome) => {
            let status = match outcome {
                FailOutcome::Retrying { .. } => "retrying",
                FailOutcome::DeadLettered => "dead_letter",
                FailOutcome::Cancelled => "cancelled",
            };
            metrics::counter!(crate::metrics::TASKS_COMPLETED, "priority" => lease.task.priority.as_str(), "status" => status).increment(1);
            match outcome {
                FailOutcome::Retrying { due_at, .. } => {
                    publish_current(inner, lease, TaskEventKind::Failed, Some(message.clone()))
                        .await;
                    let record = inner.stores.queue.get(lease.task.id).await;
                    if let Ok(record) = record {
                        inner.publish_task(TaskEventKind::Retried, &record, |e| {
                            e.retry_at = Some(due_at);
                            e.message = Some(message);
                        });
                    }
                }
                FailOutcome::DeadLettered => {
                    publish_current(inner, lease, TaskEventKind::Failed, Some(message.clone()))
                        .await;
                    publish_current(inner, lease, TaskEventKind::DeadLettered, Some(message)).await;
                }
                FailOutcome::Cancelled => {
                    publish_current(inner, lease, TaskEventKind::Cancelled, None).await;
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, task = %lease.task.id, "failure report refused"),
    }
}

/// Gives the task back to the queue without counting an attempt.
async fn give_back(inner: &Inner, token: &LeaseToken, why: &str) {
    match inner.stores.queue.release(token).await {
        Ok(status) => tracing::debug!(task = %token.task, %status, why, "task given back"),
        Err(e) => tracing::warn!(error = %e, task = %token.task, "give back refused"),
    }
}

/// Publishes `kind` with the task's current record.
async fn publish_current(
    inner: &Inner,
    lease: &Lease,
    kind: TaskEventKind,
    message: Option<String>,
) {
    let record = inner
        .stores
        .queue
        .get(lease.task.id)
        .await
        .unwrap_or_else(|_| lease.task.clone());
    inner.publish_task(kind, &record, |e| {
        if message.is_some() {
            e.message = message;
        }
    });
}

/// Reports a gateway call's result to the instance's circuit breaker; a breaker that opens or
/// closes is logged and counted (`dash_circuit_breaker_transitions_total`).
pub(crate) fn breaker_result(inner: &Inner, route: &Route, ok: bool) {
    let now = inner.clock.now();
    let transition = {
        let mut fleet = inner.fleet.lock();
        let Some(slot) = fleet.instances.get_mut(&route.instance) else {
            return;
        };
        let was_open = tripped(&slot.breaker, now);
        if ok {
            slot.breaker.on_success(now);
        } else {
            slot.breaker.on_failure(now);
        }
        let open = tripped(&slot.breaker, now);
        (was_open != open).then_some((open, slot.breaker.consecutive_failures()))
    };
    let Some((open, failures)) = transition else {
        return;
    };
    let to = if open { "open" } else { "closed" };
    if open {
        tracing::warn!(instance = %route.instance, failures, "circuit breaker opened: calls to the instance are refused for a while");
    } else {
        tracing::info!(instance = %route.instance, "circuit breaker closed");
    }
    metrics::counter!(
        crate::metrics::CIRCUIT_BREAKER_TRANSITIONS,
        "instance" => route.instance.to_string(),
        "to" => to,
    )
    .increment(1);
}

/// Whether `breaker` is not closed (open, or half-open after being open).
fn tripped(breaker: &godel_federation::CircuitBreaker, now: time::OffsetDateTime) -> bool {
    !matches!(breaker.state(now), godel_federation::BreakerState::Closed)
}

/// The message to send: the payload's `prompt`, else the whole payload as JSON.
fn prompt_of(payload: &Payload) -> String {
    match payload.get("prompt").and_then(|p| p.as_str()) {
        Some(prompt) => prompt.to_owned(),
        None => payload.to_string(),
    }
}
