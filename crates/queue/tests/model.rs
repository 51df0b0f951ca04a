//! Model test: random sequences of every queue operation run against `MemoryQueueStore` and a
//! small, obviously-correct reference model (linear scans over a `Vec`), compared step by step.
//!
//! Operations: enqueue (priorities, capabilities, limit keys, delays, dependencies, parents,
//! idempotency keys), claim (capabilities, agent limits, tenant filters), start, heartbeat, ack,
//! fail, release, cancel, replay, clock advances, reap, failover, and both purges; some cases turn
//! aging on.
//!
//! Invariants checked after every step: each task is in exactly the status the model says (so
//! exactly one), or gone once purged; no task is leased twice at once (one live fence per task,
//! held by the agent the model says); claims come out in the documented order (strict priority,
//! then stride-fair tenants, then FIFO, skipping what the claimant may not take); depth and
//! per-agent load equal the model's; a task dead-letters exactly when a retryable failure uses its
//! last attempt; `list` pages (both ways) through exactly the model's live tasks in enqueue order,
//! by tenant, assignee and group too, and `count` agrees with their statuses.

use std::time::Duration;

use godel_queue::{
    AgentId, CancelOutcome, Capabilities, Clock, Eligibility, FAIR_STRIDE, FailOutcome, Failure,
    LeaseRefusal, LeaseToken, Limit, LimitKey, ManualClock, MemoryQueueStore, NewTask, Priority,
    QueueConfig, QueueError, QueueStore, StatusCounts, TaskId, TaskQuery, TaskRecord, TaskStatus,
    TenantId, TenantPolicy,
};
use proptest::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

const TENANTS: [&str; 3] = ["t0", "t1", "t2"];
const WEIGHTS: [u32; 3] = [1, 1, 3];
const TTL_MS: u64 = 30_000;
/// Concurrency limits: tasks with the provider key, tasks of tenant t1, tasks of agents a0 and a1
/// (claimed with their `agent:aN` key); a2 and the other tenants are unlimited.
const PROVIDER_MAX: usize = 2;
const T1_MAX: usize = 3;
const AGENT_MAX: usize = 2;
/// Groups tasks are put in, by their index (see [`group_of`]).
const GROUPS: [Uuid; 2] = [Uuid::from_u128(0x61), Uuid::from_u128(0x62)];

/// The group of the task with model index `i`: the two groups in turn, every third task none.
/// Derived from the index so the operation strategy (and its saved regressions) stays as it is.
fn group_of(i: usize) -> Option<Uuid> {
    (i % 3 != 2).then(|| GROUPS[i % 2])
}

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        tenant: usize,
        priority: Option<Priority>,
        gpu: bool,
        provider: bool,
        delay_s: u64,
        dep: Option<usize>,
        parent: Option<usize>,
        key: Option<u8>,
        max_attempts: u32,
    },
    Claim {
        agent: u8,
        gpu: bool,
        max: usize,
        only: Option<usize>,
    },
    Start(usize),
    Heartbeat(usize),
    Ack(usize),
    Fail {
        lease: usize,
        retryable: bool,
    },
    Release(usize),
    Cancel(usize),
    Replay(usize),
    Advance(u64),
    Reap,
    FailOver(u8),
    PurgeFinished(u64),
    PurgeDead(u64),
}

fn priority() -> impl Strategy<Value = Priority> {
    prop::sample::select(Priority::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let enqueue = (
        (
            0..3usize,
            prop::option::weighted(0.8, priority()),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.3),
            prop_oneof![4 => Just(0u64), 1 => 1..5u64],
        ),
        (
            prop::option::weighted(0.2, any::<usize>()),
            prop::option::weighted(0.15, any::<usize>()),
            prop::option::weighted(0.2, 0..3u8),
            1..4u32,
        ),
    )
        .prop_map(
            |((tenant, priority, gpu, provider, delay_s), (dep, parent, key, max_attempts))| {
                Op::Enqueue {
                    tenant,
                    priority,
                    gpu,
                    provider,
                    delay_s,
                    dep,
                    parent,
                    key,
                    max_attempts,
                }
            },
        );
    prop_oneof![
        6 => enqueue,
        5 => (0..3u8, any::<bool>(), 1..4usize, prop::option::weighted(0.15, 0..3usize))
            .prop_map(|(agent, gpu, max, only)| Op::Claim { agent, gpu, max, only }),
        2 => any::<usize>().prop_map(Op::Start),
        2 => any::<usize>().prop_map(Op::Heartbeat),
        3 => any::<usize>().prop_map(Op::Ack),
        3 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(lease, retryable)| Op::Fail { lease, retryable }),
        1 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::Replay),
        3 => prop_oneof![0..3_000u64, 10_000..40_000u64].prop_map(Op::Advance),
        1 => Just(Op::Reap),
        1 => (0..20_000u64).prop_map(Op::PurgeFinished),
        1 => (0..20_000u64).prop_map(Op::PurgeDead),
        1 => (0..3u8).prop_map(Op::FailOver),
    ]
}

/// What an operation returned, reduced to what the model can predict exactly.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok,
    Enqueued {
        id: TaskId,
        status: TaskStatus,
        priority: Priority,
        deduplicated: bool,
    },
    Claimed(Vec<(TaskId, u64, u32)>),
    Beat {
        cancel_requested: bool,
    },
    Failed(FailOutcome),
    Released(TaskStatus),
    Cancelled(CancelOutcome),
    Recovered(Vec<(TaskId, String, TaskStatus)>),
    Stale(LeaseRefusal),
    IllegalTransition,
    NotDeadLettered,
    NotFound,
    Purged(u64),
    UnknownDependency,
    UnknownParent,
    Skipped,
}

fn outcome_of_error(err: QueueError) -> Outcome {
    match err {
        QueueError::StaleLease { reason, .. } => Outcome::Stale(reason),
        QueueError::IllegalTransition { .. } => Outcome::IllegalTransition,
        QueueError::NotDeadLettered { .. } => Outcome::NotDeadLettered,
        QueueError::NotFound(_) => Outcome::NotFound,
        QueueError::UnknownDependency { .. } => Outcome::UnknownDependency,
        QueueError::UnknownParent { .. } => Outcome::UnknownParent,
        other => panic!("unexpected error from the store: {other}"),
    }
}

#[derive(Debug, Clone)]
struct Task {
    id: TaskId,
    tenant: usize,
    priority: Priority,
    gpu: bool,
    provider: bool,
    status: TaskStatus,
    attempts: u32,
    max_attempts: u32,
    seq: u64,
    due: Option<u64>,
    scheduled: Option<u64>,
    fence: Option<u64>,
    expires: Option<u64>,
    agent: Option<u8>,
    cancel_requested: bool,
    unmet: usize,
    dependents: Vec<usize>,
    key: Option<u8>,
    /// The level it waits at while pending: its priority, raised by aging.
    level: Priority,
    /// When aging raises it next, while pending.
    aging_next: Option<u64>,
    /// When it completed or was cancelled.
    finished_at: Option<u64>,
    /// When it was dead-lettered, while it is.
    dead_at: Option<u64>,
    /// Deleted by a purge: the store no longer knows it.
    purged: bool,
}

/// The reference model: every rule written as directly as possible.
#[derive(Debug, Default)]
struct Model {
    now: u64,
    tasks: Vec<Task>,
    leases: Vec<LeaseToken>,
    next_seq: u64,
    next_fence: u64,
    pass: [[u64; 3]; 4],
    virtual_time: [u64; 4],
    /// `aging_after` in milliseconds, when the case turns aging on.
    aging: Option<u64>,
}

fn backoff_ms(failures: u32) -> u64 {
    (1000u64 << (failures - 1).min(10)).min(30_000)
}

impl Model {
    fn find(&self, id: TaskId) -> usize {
        self.tasks
            .iter()
            .position(|t| t.id == id)
            .expect("model knows the task")
    }

    fn pending_count(&self, level: Priority, tenant: usize) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Pending && t.level == level && t.tenant == tenant)
            .count()
    }

    /// Makes task `i` pending; a tenant with no pending task at that level joins the rotation
    /// at the level's virtual time.
    fn make_pending(&mut self, i: usize) {
        let level = self.tasks[i].priority;
        self.join_level(i, level);
        let aging_next = self
            .aging
            .filter(|_| level.raised().is_some())
            .map(|a| self.now + a);
        let t = &mut self.tasks[i];
        t.status = TaskStatus::Pending;
        t.due = None;
        t.aging_next = aging_next;
    }

    /// Puts task `i` at `level`; a tenant with no pending task there joins the rotation at the
    /// level's virtual time.
    fn join_level(&mut self, i: usize, level: Priority) {
        let tenant = self.tasks[i].tenant;
        if self.pending_count(level, tenant) == 0 {
            let pass = &mut self.pass[level.rank()][tenant];
            *pass = (*pass).max(self.virtual_time[level.rank()]);
        }
        self.tasks[i].level = level;
    }

    /// Raises pending tasks one level per aging interval waited, one step at a time in order
    /// of (time, id), as the store does.
    fn age(&mut self) {
        let Some(after) = self.aging else { return };
        loop {
            let next = (0..self.tasks.len())
                .filter(|&i| self.tasks[i].status == TaskStatus::Pending)
                .filter_map(|i| self.tasks[i].aging_next.map(|at| (at, self.tasks[i].id, i)))
                .filter(|(at, _, _)| *at <= self.now)
                .min();
            let Some((at, _, i)) = next else { return };
            let raised = self.tasks[i]
                .level
                .raised()
                .expect("only tasks below critical age");
            // Leave the old level first, then join the new one.
            self.tasks[i].status = TaskStatus::Blocked;
            self.join_level(i, raised);
            self.tasks[i].status = TaskStatus::Pending;
            self.tasks[i].aging_next = raised.raised().map(|_| at + after);
        }
    }

    fn promote(&mut self) {
        for i in 0..self.tasks.len() {
            let t = &self.tasks[i];
            if matches!(t.status, TaskStatus::Scheduled | TaskStatus::Failed)
                && t.due.is_some_and(|d| d <= self.now)
            {
                self.make_pending(i);
            }
        }
        self.age();
    }

    fn finish(&mut self, i: usize, status: TaskStatus) {
        self.tasks[i].status = status;
        self.tasks[i].due = None;
        match status {
            TaskStatus::DeadLetter => self.tasks[i].dead_at = Some(self.now),
            _ => self.tasks[i].finished_at = Some(self.now),
        }
        if status != TaskStatus::Completed {
            self.cascade(i);
        }
    }

    fn cascade(&mut self, i: usize) {
        for d in std::mem::take(&mut self.tasks[i].dependents) {
            if self.tasks[d].status == TaskStatus::Blocked {
                self.finish(d, TaskStatus::Cancelled);
            }
        }
    }

    fn unblock(&mut self, i: usize) {
        for d in std::mem::take(&mut self.tasks[i].dependents) {
            if self.tasks[d].status != TaskStatus::Blocked {
                continue;
            }
            self.tasks[d].unmet -= 1;
            if self.tasks[d].unmet == 0 {
                match self.tasks[d].scheduled.filter(|s| *s > self.now) {
                    Some(at) => {
                        self.tasks[d].status = TaskStatus::Scheduled;
                        self.tasks[d].due = Some(at);
                    }
                    None => self.make_pending(d),
                }
            }
        }
    }

    fn enqueue(&mut self, op: &Op) -> Outcome {
        let Op::Enqueue {
            tenant,
            priority,
            gpu,
            provider,
            delay_s,
            dep,
            parent,
            key,
            max_attempts,
        } = op.clone()
        else {
            unreachable!()
        };
        let pick = |x: Option<usize>| {
            x.filter(|_| !self.tasks.is_empty())
                .map(|x| x % self.tasks.len())
        };
        let (dep, parent) = (pick(dep), pick(parent));
        if let Some(k) = key
            && let Some(existing) = self
                .tasks
                .iter()
                .find(|t| !t.purged && t.tenant == tenant && t.key == Some(k))
        {
            return Outcome::Enqueued {
                id: existing.id,
                status: existing.status,
                priority: existing.priority,
                deduplicated: true,
            };
        }
        if dep.is_some_and(|d| self.tasks[d].purged || self.tasks[d].tenant != tenant) {
            return Outcome::UnknownDependency;
        }
        if parent.is_some_and(|p| self.tasks[p].purged || self.tasks[p].tenant != tenant) {
            return Outcome::UnknownParent;
        }
        let priority = priority
            .or(parent.map(|p| self.tasks[p].priority))
            .unwrap_or(Priority::Medium);
        let i = self.tasks.len();
        let scheduled = (delay_s > 0).then(|| self.now + delay_s * 1000);
        self.tasks.push(Task {
            id: TaskId::from_u128(i as u128 + 1),
            tenant,
            priority,
            gpu,
            provider,
            status: TaskStatus::Blocked,
            attempts: 0,
            max_attempts,
            seq: self.next_seq,
            due: None,
            scheduled,
            fence: None,
            expires: None,
            agent: None,
            cancel_requested: false,
            unmet: 0,
            dependents: Vec::new(),
            key,
            level: priority,
            aging_next: None,
            finished_at: None,
            dead_at: None,
            purged: false,
        });
        self.next_seq += 1;
        match dep.map(|d| self.tasks[d].status) {
            Some(TaskStatus::Completed) | None => match scheduled {
                Some(at) => {
                    self.tasks[i].status = TaskStatus::Scheduled;
                    self.tasks[i].due = Some(at);
                }
                None => self.make_pending(i),
            },
            Some(TaskStatus::Cancelled | TaskStatus::DeadLetter) => {
                self.finish(i, TaskStatus::Cancelled)
            }
            Some(_) => {
                let d = dep.expect("some");
                self.tasks[i].unmet = 1;
                self.tasks[d].dependents.push(i);
            }
        }
        let t = &self.tasks[i];
        Outcome::Enqueued {
            id: t.id,
            status: t.status,
            priority,
            deduplicated: false,
        }
    }

    /// The next task in claim order for a claimant, by linear scan.
    fn leased(&self, keep: impl Fn(&Task) -> bool) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.status.is_leased() && keep(t))
            .count()
    }

    /// Whether one more task with these keys may start (every limit below its maximum).
    fn keys_allow(&self, tenant: usize, provider: bool) -> bool {
        (!provider || self.leased(|t| t.provider) < PROVIDER_MAX)
            && (tenant != 1 || self.leased(|t| t.tenant == 1) < T1_MAX)
    }

    fn agent_allows(&self, agent: u8) -> bool {
        agent == 2 || self.leased(|t| t.agent == Some(agent)) < AGENT_MAX
    }

    fn select(&self, gpu: bool, only: Option<usize>) -> Option<usize> {
        for level in Priority::ALL {
            let mut tenants: Vec<usize> = (0..3)
                .filter(|t| only.is_none_or(|o| o == *t) && self.pending_count(level, *t) > 0)
                .collect();
            tenants.sort_by_key(|t| (self.pass[level.rank()][*t], *t));
            for tenant in tenants {
                let best = (0..self.tasks.len())
                    .filter(|&i| {
                        let t = &self.tasks[i];
                        t.status == TaskStatus::Pending
                            && t.level == level
                            && t.tenant == tenant
                            && (gpu || !t.gpu)
                            && self.keys_allow(t.tenant, t.provider)
                    })
                    .min_by_key(|&i| self.tasks[i].seq);
                if best.is_some() {
                    return best;
                }
            }
        }
        None
    }

    fn claim(&mut self, agent: u8, gpu: bool, max: usize, only: Option<usize>) -> Outcome {
        let mut out = Vec::new();
        while out.len() < max && self.agent_allows(agent) {
            let Some(i) = self.select(gpu, only) else {
                break;
            };
            let (level, tenant) = (self.tasks[i].level.rank(), self.tasks[i].tenant);
            self.virtual_time[level] = self.virtual_time[level].max(self.pass[level][tenant]);
            self.pass[level][tenant] += FAIR_STRIDE / u64::from(WEIGHTS[tenant]);
            self.next_fence += 1;
            let t = &mut self.tasks[i];
            t.status = TaskStatus::Assigned;
            t.fence = Some(self.next_fence);
            t.expires = Some(self.now + TTL_MS);
            t.agent = Some(agent);
            t.cancel_requested = false;
            out.push((t.id, self.next_fence, t.attempts + 1));
        }
        self.leases
            .extend(out.iter().map(|(task, fence, _)| LeaseToken {
                task: *task,
                fence: *fence,
            }));
        Outcome::Claimed(out)
    }

    fn check(&self, token: &LeaseToken) -> Result<usize, Outcome> {
        let i = self.find(token.task);
        if self.tasks[i].purged {
            return Err(Outcome::NotFound);
        }
        match (self.tasks[i].fence, self.tasks[i].expires) {
            (Some(f), Some(e)) if f == token.fence => {
                if self.now >= e {
                    Err(Outcome::Stale(LeaseRefusal::Expired))
                } else {
                    Ok(i)
                }
            }
            (Some(_), _) => Err(Outcome::Stale(LeaseRefusal::Superseded)),
            _ => Err(Outcome::Stale(LeaseRefusal::NotLeased)),
        }
    }

    fn end_lease(&mut self, i: usize) -> u8 {
        let t = &mut self.tasks[i];
        t.fence = None;
        t.expires = None;
        t.agent.take().expect("leased")
    }

    fn recover(&mut self, i: usize) -> (TaskId, String, TaskStatus) {
        let agent = self.end_lease(i);
        if self.tasks[i].cancel_requested {
            self.finish(i, TaskStatus::Cancelled);
        } else {
            self.tasks[i].attempts += 1;
            if self.tasks[i].attempts >= self.tasks[i].max_attempts {
                self.finish(i, TaskStatus::DeadLetter);
            } else {
                self.make_pending(i);
            }
        }
        (self.tasks[i].id, format!("a{agent}"), self.tasks[i].status)
    }

    fn leased_in_expiry_order(&self, keep: impl Fn(&Task) -> bool) -> Vec<usize> {
        let mut held: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| self.tasks[i].status.is_leased() && keep(&self.tasks[i]))
            .collect();
        held.sort_by_key(|&i| (self.tasks[i].expires, self.tasks[i].id));
        held
    }

    /// Deletes every task `doomed` says, counting them.
    fn purge(&mut self, doomed: impl Fn(&Task) -> bool) -> Outcome {
        let mut n = 0;
        for t in self.tasks.iter_mut().filter(|t| !t.purged) {
            if doomed(t) {
                t.purged = true;
                n += 1;
            }
        }
        Outcome::Purged(n)
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        let now = self.now;
        let lease =
            |n: usize| (!self.leases.is_empty()).then(|| self.leases[n % self.leases.len()]);
        let task = |n: usize| (!self.tasks.is_empty()).then(|| n % self.tasks.len());
        let out = match *op {
            Op::Enqueue { .. } => self.enqueue(op),
            Op::Claim {
                agent,
                gpu,
                max,
                only,
            } => self.claim(agent, gpu, max, only),
            Op::Start(n) => match lease(n) {
                None => Outcome::Skipped,
                Some(token) => match self.check(&token) {
                    Err(e) => e,
                    Ok(i) => {
                        self.tasks[i].status = TaskStatus::Running;
                        Outcome::Ok
                    }
                },
            },
            Op::Heartbeat(n) => match lease(n) {
                None => Outcome::Skipped,
                Some(token) => match self.check(&token) {
                    Err(e) => e,
                    Ok(i) => {
                        self.tasks[i].expires = Some(self.now + TTL_MS);
                        Outcome::Beat {
                            cancel_requested: self.tasks[i].cancel_requested,
                        }
                    }
                },
            },
            Op::Ack(n) => match lease(n) {
                None => Outcome::Skipped,
                Some(token) => match self.check(&token) {
                    Err(e) => e,
                    Ok(i) => {
                        self.end_lease(i);
                        self.tasks[i].status = TaskStatus::Completed;
                        self.tasks[i].finished_at = Some(self.now);
                        self.unblock(i);
                        Outcome::Ok
                    }
                },
            },
            Op::Fail {
                lease: n,
                retryable,
            } => match lease(n) {
                None => Outcome::Skipped,
                Some(token) => match self.check(&token) {
                    Err(e) => e,
                    Ok(i) => {
                        self.end_lease(i);
                        if self.tasks[i].cancel_requested {
                            self.finish(i, TaskStatus::Cancelled);
                            Outcome::Failed(FailOutcome::Cancelled)
                        } else {
                            self.tasks[i].attempts += 1;
                            let attempts = self.tasks[i].attempts;
                            if !retryable || attempts >= self.tasks[i].max_attempts {
                                self.finish(i, TaskStatus::DeadLetter);
                                Outcome::Failed(FailOutcome::DeadLettered)
                            } else {
                                let due = self.now + backoff_ms(attempts);
                                self.tasks[i].status = TaskStatus::Failed;
                                self.tasks[i].due = Some(due);
                                Outcome::Failed(FailOutcome::Retrying {
                                    attempt_count: attempts,
                                    due_at: at(due),
                                })
                            }
                        }
                    }
                },
            },
            Op::Release(n) => match lease(n) {
                None => Outcome::Skipped,
                Some(token) => match self.check(&token) {
                    Err(e) => e,
                    Ok(i) => {
                        self.end_lease(i);
                        if self.tasks[i].cancel_requested {
                            self.finish(i, TaskStatus::Cancelled);
                        } else {
                            self.make_pending(i);
                        }
                        Outcome::Released(self.tasks[i].status)
                    }
                },
            },
            Op::Cancel(n) => match task(n) {
                None => Outcome::Skipped,
                Some(i) if self.tasks[i].purged => Outcome::NotFound,
                Some(i) => match self.tasks[i].status {
                    TaskStatus::Assigned | TaskStatus::Running => {
                        self.tasks[i].cancel_requested = true;
                        Outcome::Cancelled(CancelOutcome::Requested)
                    }
                    TaskStatus::Completed | TaskStatus::Cancelled => Outcome::IllegalTransition,
                    _ => {
                        self.finish(i, TaskStatus::Cancelled);
                        Outcome::Cancelled(CancelOutcome::Cancelled)
                    }
                },
            },
            Op::Replay(n) => match task(n) {
                None => Outcome::Skipped,
                Some(i) if self.tasks[i].purged => Outcome::NotFound,
                Some(i) if self.tasks[i].status == TaskStatus::DeadLetter => {
                    self.tasks[i].attempts = 0;
                    self.tasks[i].dead_at = None;
                    self.make_pending(i);
                    Outcome::Ok
                }
                Some(_) => Outcome::NotDeadLettered,
            },
            Op::Advance(ms) => {
                self.now += ms;
                Outcome::Ok
            }
            Op::Reap => {
                let now = self.now;
                let expired = self.leased_in_expiry_order(|t| t.expires.is_some_and(|e| e <= now));
                Outcome::Recovered(expired.into_iter().map(|i| self.recover(i)).collect())
            }
            Op::FailOver(agent) => {
                let held = self.leased_in_expiry_order(|t| t.agent == Some(agent));
                Outcome::Recovered(held.into_iter().map(|i| self.recover(i)).collect())
            }
            Op::PurgeFinished(retention) => self.purge(|t| {
                t.status.is_terminal() && t.finished_at.is_some_and(|at| at + retention < now)
            }),
            Op::PurgeDead(retention) => self.purge(|t| {
                t.status == TaskStatus::DeadLetter
                    && t.dead_at.is_some_and(|at| at + retention < now)
            }),
        };
        // The store promotes due tasks whenever it is read; the checks below read it.
        self.promote();
        out
    }
}

fn start() -> OffsetDateTime {
    ManualClock::default().now()
}

fn at(ms: u64) -> OffsetDateTime {
    start() + Duration::from_millis(ms)
}

fn agent(n: u8) -> AgentId {
    AgentId::parse(&format!("a{n}")).unwrap()
}

fn eligibility(agent: u8, gpu: bool, only: Option<usize>) -> Eligibility {
    let caps = if gpu {
        Capabilities::parse(["gpu"]).unwrap()
    } else {
        Capabilities::none()
    };
    let key = LimitKey::parse(&format!("agent:a{agent}")).unwrap();
    let eligibility = Eligibility::with_capabilities(caps).with_key(key);
    match only {
        Some(t) => eligibility.only_tenants(vec![TenantId::parse(TENANTS[t]).unwrap()]),
        None => eligibility,
    }
}

/// Sets the limits the model enforces.
async fn set_limits(store: &MemoryQueueStore) {
    let max = |n: usize| {
        Some(Limit {
            max_running: Some(n as u32),
            rate: None,
        })
    };
    let provider = LimitKey::parse("provider:p").unwrap();
    store.set_limit(&provider, max(PROVIDER_MAX)).await.unwrap();
    let t1 = LimitKey::tenant(&TenantId::parse("t1").unwrap());
    store.set_limit(&t1, max(T1_MAX)).await.unwrap();
    for a in ["agent:a0", "agent:a1"] {
        store
            .set_limit(&LimitKey::parse(a).unwrap(), max(AGENT_MAX))
            .await
            .unwrap();
    }
}

async fn run_on_store(
    store: &MemoryQueueStore,
    clock: &ManualClock,
    model: &Model,
    op: &Op,
) -> Outcome {
    let lease = |n: usize| (!model.leases.is_empty()).then(|| model.leases[n % model.leases.len()]);
    let task = |n: usize| (!model.tasks.is_empty()).then(|| model.tasks[n % model.tasks.len()].id);
    let result = match op.clone() {
        Op::Enqueue {
            tenant,
            priority,
            gpu,
            provider,
            delay_s,
            dep,
            parent,
            key,
            max_attempts,
        } => {
            let mut new = NewTask::new(
                TenantId::parse(TENANTS[tenant]).unwrap(),
                serde_json::json!({}),
            )
            .with_id(TaskId::from_u128(model.tasks.len() as u128 + 1))
            .with_max_attempts(max_attempts);
            new.group = group_of(model.tasks.len());
            new.priority = priority;
            if gpu {
                new = new.with_capabilities(Capabilities::parse(["gpu"]).unwrap());
            }
            if provider {
                new = new.with_limit_key(LimitKey::parse("provider:p").unwrap());
            }
            if provider {
                new = new.with_limit_key(LimitKey::parse("provider:p").unwrap());
            }
            if delay_s > 0 {
                new = new.scheduled_at(clock.now() + Duration::from_secs(delay_s));
            }
            if let Some(d) = task(dep.unwrap_or(0)).filter(|_| dep.is_some()) {
                new = new.depends_on(d);
            }
            if let Some(p) = task(parent.unwrap_or(0)).filter(|_| parent.is_some()) {
                new = new.with_parent(p);
            }
            if let Some(k) = key {
                new = new.with_idempotency_key(format!("key-{k}"));
            }
            store.enqueue(new).await.map(|e| Outcome::Enqueued {
                id: e.id,
                status: e.status,
                priority: e.priority,
                deduplicated: e.deduplicated,
            })
        }
        Op::Claim {
            agent: a,
            gpu,
            max,
            only,
        } => store
            .claim(&agent(a), &eligibility(a, gpu, only), max)
            .await
            .map(|leases| {
                Outcome::Claimed(
                    leases
                        .iter()
                        .map(|l| (l.token.task, l.token.fence, l.attempt))
                        .collect(),
                )
            }),
        Op::Start(n) => match lease(n) {
            None => return Outcome::Skipped,
            Some(token) => store.start(&token).await.map(|()| Outcome::Ok),
        },
        Op::Heartbeat(n) => match lease(n) {
            None => return Outcome::Skipped,
            Some(token) => store.heartbeat(&token).await.map(|b| Outcome::Beat {
                cancel_requested: b.cancel_requested,
            }),
        },
        Op::Ack(n) => match lease(n) {
            None => return Outcome::Skipped,
            Some(token) => store.ack(&token, None).await.map(|()| Outcome::Ok),
        },
        Op::Fail {
            lease: n,
            retryable,
        } => match lease(n) {
            None => return Outcome::Skipped,
            Some(token) => {
                let failure = if retryable {
                    Failure::retryable("boom")
                } else {
                    Failure::permanent("bad")
                };
                store.fail(&token, failure).await.map(Outcome::Failed)
            }
        },
        Op::Release(n) => match lease(n) {
            None => return Outcome::Skipped,
            Some(token) => store.release(&token).await.map(Outcome::Released),
        },
        Op::Cancel(n) => match task(n) {
            None => return Outcome::Skipped,
            Some(id) => store.cancel(id, "test").await.map(Outcome::Cancelled),
        },
        Op::Replay(n) => match task(n) {
            None => return Outcome::Skipped,
            Some(id) => store.replay(id).await.map(|()| Outcome::Ok),
        },
        Op::Advance(ms) => {
            clock.advance(Duration::from_millis(ms));
            Ok(Outcome::Ok)
        }
        Op::Reap => store.reap_expired().await.map(recovered),
        Op::PurgeFinished(ms) => store
            .purge_finished(Duration::from_millis(ms))
            .await
            .map(Outcome::Purged),
        Op::PurgeDead(ms) => store
            .purge_dead_letters(Duration::from_millis(ms))
            .await
            .map(Outcome::Purged),
        Op::FailOver(a) => store.fail_over(&agent(a), "lost").await.map(recovered),
    };
    result.unwrap_or_else(outcome_of_error)
}

fn recovered(list: Vec<godel_queue::Requeued>) -> Outcome {
    Outcome::Recovered(
        list.into_iter()
            .map(|r| (r.task, r.agent.to_string(), r.status))
            .collect(),
    )
}

/// Every task matching `query`, paged `page` at a time until a short page.
async fn list_all(store: &MemoryQueueStore, query: &TaskQuery, page: usize) -> Vec<TaskRecord> {
    let mut all: Vec<TaskRecord> = Vec::new();
    loop {
        let after = all.last().map(|r| r.seq);
        let records = store.list(query, after, page).await.unwrap();
        assert!(records.len() <= page, "page over its limit");
        let short = records.len() < page;
        all.extend(records);
        if short {
            return all;
        }
    }
}

/// `list` pages through exactly the model's live tasks, oldest first and newest first, also
/// narrowed by tenant, assignee and group; `count` agrees with their statuses.
async fn check_listing(store: &MemoryQueueStore, model: &Model) {
    let live: Vec<(usize, &Task)> = model
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.purged)
        .collect();
    let all = TaskQuery::default();
    let listed = list_all(store, &all, 3).await;
    let got: Vec<_> = listed.iter().map(|r| (r.id, r.seq, r.status)).collect();
    let want: Vec<_> = live.iter().map(|(_, t)| (t.id, t.seq, t.status)).collect();
    assert_eq!(got, want, "list of every task");
    let newest = TaskQuery {
        newest_first: true,
        ..TaskQuery::default()
    };
    let mut backwards: Vec<TaskId> = list_all(store, &newest, 4)
        .await
        .iter()
        .map(|r| r.id)
        .collect();
    backwards.reverse();
    let ids: Vec<TaskId> = live.iter().map(|(_, t)| t.id).collect();
    assert_eq!(backwards, ids, "newest-first list, reversed");
    let counts: StatusCounts = live.iter().map(|(_, t)| t.status).collect();
    assert_eq!(
        store.count(&all).await.unwrap(),
        counts,
        "count of every task"
    );

    let narrowed = |keep: &dyn Fn(usize, &Task) -> bool| -> (Vec<TaskId>, StatusCounts) {
        let kept: Vec<_> = live.iter().filter(|(i, t)| keep(*i, t)).collect();
        (
            kept.iter().map(|(_, t)| t.id).collect(),
            kept.iter().map(|(_, t)| t.status).collect(),
        )
    };
    let mut queries: Vec<(TaskQuery, (Vec<TaskId>, StatusCounts))> = Vec::new();
    for (n, name) in TENANTS.iter().enumerate() {
        let query = TaskQuery {
            tenant: Some(TenantId::parse(name).unwrap()),
            ..TaskQuery::default()
        };
        queries.push((query, narrowed(&|_, t| t.tenant == n)));
    }
    for a in 0..3u8 {
        let query = TaskQuery {
            assignee: Some(agent(a)),
            ..TaskQuery::default()
        };
        queries.push((query, narrowed(&|_, t| t.agent == Some(a))));
    }
    for group in GROUPS {
        let query = TaskQuery {
            group: Some(group),
            ..TaskQuery::default()
        };
        queries.push((query, narrowed(&|i, _| group_of(i) == Some(group))));
    }
    for (query, (ids, counts)) in queries {
        let got: Vec<TaskId> = list_all(store, &query, 2)
            .await
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(got, ids, "list of {query:?}");
        assert_eq!(
            store.count(&query).await.unwrap(),
            counts,
            "count of {query:?}"
        );
    }
}

/// Compares the store with the model after a step.
async fn check_state(store: &MemoryQueueStore, model: &Model) {
    let mut fences = std::collections::HashSet::new();
    for t in &model.tasks {
        if t.purged {
            let err = store.get(t.id).await.unwrap_err();
            assert!(
                matches!(err, QueueError::NotFound(_)),
                "{} was purged: {err}",
                t.id
            );
            continue;
        }
        let r = store.get(t.id).await.unwrap();
        assert_eq!(r.status, t.status, "status of {}", t.id);
        assert_eq!(r.priority, t.priority, "priority of {}", t.id);
        assert_eq!(r.attempt_count, t.attempts, "attempts of {}", t.id);
        assert_eq!(r.lease_fence, t.fence, "fence of {}", t.id);
        assert_eq!(
            r.assignee.as_ref().map(ToString::to_string),
            t.agent.map(|a| format!("a{a}")),
            "assignee of {}",
            t.id
        );
        assert_eq!(
            r.lease_expires_at,
            t.expires.map(at),
            "lease expiry of {}",
            t.id
        );
        assert_eq!(r.due_at, t.due.map(at), "due time of {}", t.id);
        assert_eq!(
            r.status.is_leased(),
            r.lease_fence.is_some(),
            "leased iff fenced: {r:?}"
        );
        if let Some(f) = r.lease_fence {
            assert!(fences.insert(f), "fence {f} is live on two tasks");
        }
        if r.status == TaskStatus::DeadLetter {
            assert!(r.attempt_count <= r.max_attempts, "{r:?}");
        }
    }
    let depth = store.depth().await.unwrap();
    for level in Priority::ALL {
        let want: usize = (0..3).map(|t| model.pending_count(level, t)).sum();
        assert_eq!(depth.at(level), want as u64, "depth at {level}");
    }
    for (t, name) in TENANTS.iter().enumerate() {
        let want: usize = Priority::ALL
            .iter()
            .map(|l| model.pending_count(*l, t))
            .sum();
        assert_eq!(
            depth.of_tenant(&TenantId::parse(name).unwrap()),
            want as u64,
            "depth of {name}"
        );
    }
    for a in 0..3u8 {
        let want = model.tasks.iter().filter(|t| t.agent == Some(a)).count();
        assert_eq!(
            store.load(&agent(a)).await.unwrap(),
            want as u32,
            "load of a{a}"
        );
    }
    check_listing(store, model).await;
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // `GODEL_MODEL_CASES=5000 cargo test -p godel-queue --test model` for a longer search.
        cases: std::env::var("GODEL_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn memory_store_matches_the_reference_model(
        ops in prop::collection::vec(op(), 1..120),
        aging in prop::option::weighted(0.3, 2_000..60_000u64),
    ) {
        block_on(async {
            let clock = ManualClock::default();
            let config = QueueConfig { aging_after: aging.map(Duration::from_millis), ..QueueConfig::default() };
            let store = MemoryQueueStore::try_new(config, std::sync::Arc::new(clock.clone())).unwrap();
            for (name, weight) in TENANTS.iter().zip(WEIGHTS) {
                let policy = TenantPolicy { weight, ..TenantPolicy::default() };
                store.set_tenant_policy(&TenantId::parse(name).unwrap(), policy).await.unwrap();
            }
            set_limits(&store).await;
            let mut model = Model { aging, ..Model::default() };
            for (step, op) in ops.iter().enumerate() {
                let got = run_on_store(&store, &clock, &model, op).await;
                let want = model.apply(op);
                assert_eq!(got, want, "step {step}: {op:?}");
                check_state(&store, &model).await;
            }
        });
    }
}
