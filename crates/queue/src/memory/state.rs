//! The memory store's state and every operation on it, run under the store's lock.
//!
//! Each task lives in `tasks`; the indexes below hold it according to its status:
//! pending in `waiting`, scheduled and failed in `timers`, leased in `leases`, dead-lettered in
//! `dead`, completed and cancelled in `finished`, blocked only in `dependents` of the tasks it
//! waits for. Every status change goes through [`State::set_status`], which checks it against
//! the transition table and keeps the per-tenant queued counts. Independent of status, `by_seq`
//! (and `groups`, per group) holds every task in enqueue order, for listing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};
use time::OffsetDateTime;
use uuid::Uuid;

use super::journal::{Counters, Journal, JournalBatch, Snapshot, StoredTask};
use super::keys::{KeyIdx, Keys};
use super::lanes::{LaneCheck, ReqIdx, TenantIdx, WaitQueues};
use crate::config::{Limit, QueueConfig, TenantPolicy};
use crate::error::{LeaseRefusal, QueueError};
use crate::ids::{AgentId, Capabilities, LimitKey, TaskId, TenantId};
use crate::lease::{Eligibility, Heartbeat, Lease, LeaseToken};
use crate::priority::Priority;
use crate::retry::Jitter;
use crate::status::TaskStatus;
use crate::store::{
    CancelOutcome, DeadLetterCursor, DeadLetterFilter, Depth, Enqueued, FailOutcome, QueueStats,
    Requeued, StatusCounts, TaskQuery,
};
use crate::task::{Failure, MAX_IDEMPOTENCY_KEY_LEN, NewTask, Payload, TaskRecord};

#[derive(Debug)]
struct Entry {
    record: TaskRecord,
    tenant: TenantIdx,
    req: ReqIdx,
    /// The level it waits at while pending (its priority, or higher once aged).
    level: Priority,
    /// When aging raises it next, while pending and aging is on.
    aging_at: Option<OffsetDateTime>,
    /// Its own `scheduled_at`, applied again when its dependencies complete.
    scheduled_at: Option<OffsetDateTime>,
    /// Dependencies not yet completed.
    unmet: u32,
    /// Whether other tasks wait for it (it has an entry in `dependents`).
    has_dependents: bool,
    /// The claimant's limit keys, counted while leased.
    claim_keys: Box<[KeyIdx]>,
}

#[derive(Debug)]
struct Tenant {
    id: TenantId,
    key: KeyIdx,
    policy: TenantPolicy,
    queued: u64,
    /// The requirement set of tasks that need no capability and no extra key.
    plain_req: ReqIdx,
}

#[derive(Debug)]
struct Requirement {
    capabilities: Capabilities,
    keys: Box<[KeyIdx]>,
}

/// Everything the memory store knows.
#[derive(Debug)]
pub(super) struct State {
    config: QueueConfig,
    /// Entries are boxed: one is ~380 bytes, and held inline every resize of the map moved them
    /// all (over half the time of enqueueing 1M tasks); boxed, a resize moves pointers.
    tasks: FxHashMap<TaskId, Box<Entry>>,
    /// Every task by `seq`: the order `list` pages in.
    by_seq: BTreeMap<u64, TaskId>,
    /// The tasks of each group by `seq`, so a group is listed and counted without a full scan.
    groups: FxHashMap<Uuid, BTreeMap<u64, TaskId>>,
    tenants: Vec<Tenant>,
    tenant_index: FxHashMap<TenantId, TenantIdx>,
    requirements: Vec<Requirement>,
    requirement_index: FxHashMap<(Capabilities, Box<[KeyIdx]>), ReqIdx>,
    keys: Keys,
    waiting: WaitQueues,
    timers: BTreeSet<(OffsetDateTime, TaskId)>,
    leases: BTreeSet<(OffsetDateTime, TaskId)>,
    aging: BTreeSet<(OffsetDateTime, TaskId)>,
    dead: BTreeSet<(OffsetDateTime, TaskId)>,
    finished: VecDeque<(OffsetDateTime, TaskId)>,
    idempotency: FxHashMap<(TenantIdx, Arc<str>), TaskId>,
    dependents: FxHashMap<TaskId, Vec<TaskId>>,
    loads: FxHashMap<AgentId, u32>,
    next_seq: u64,
    next_fence: u64,
    stats: QueueStats,
    /// What changed since the last batch, when a durable store asked for it.
    journal: Option<Journal>,
}

impl State {
    pub(super) fn new(config: QueueConfig) -> Self {
        Self {
            config,
            tasks: FxHashMap::default(),
            by_seq: BTreeMap::new(),
            groups: FxHashMap::default(),
            tenants: Vec::new(),
            tenant_index: FxHashMap::default(),
            requirements: Vec::new(),
            requirement_index: FxHashMap::default(),
            keys: Keys::default(),
            waiting: WaitQueues::default(),
            timers: BTreeSet::new(),
            leases: BTreeSet::new(),
            aging: BTreeSet::new(),
            dead: BTreeSet::new(),
            finished: VecDeque::new(),
            idempotency: FxHashMap::default(),
            dependents: FxHashMap::default(),
            loads: FxHashMap::default(),
            next_seq: 0,
            next_fence: 0,
            stats: QueueStats::default(),
            journal: None,
        }
    }

    pub(super) fn config(&self) -> &QueueConfig {
        &self.config
    }

    // ---- journal and restore -----------------------------------------------------------------

    /// Marks a task as changed for the journal, when it is on.
    fn touch(&mut self, id: TaskId) {
        if let Some(journal) = &mut self.journal {
            journal.task_changed(id);
        }
    }

    /// Turns the journal on (from an empty journal at version 0).
    pub(super) fn enable_journal(&mut self) {
        self.journal.get_or_insert_with(Journal::default);
    }

    /// The journal's version: it grows with every change; 0 when the journal is off.
    pub(super) fn journal_version(&self) -> u64 {
        self.journal.as_ref().map_or(0, Journal::version)
    }

    /// Everything changed since the previous call (empty when the journal is off).
    pub(super) fn take_journal(&mut self) -> JournalBatch {
        let Some(mut journal) = self.journal.take() else {
            return JournalBatch::default();
        };
        let counters = Counters {
            next_seq: self.next_seq,
            last_fence: self.next_fence,
        };
        let batch = journal.take(counters, |id| self.stored(id));
        self.journal = Some(journal);
        batch
    }

    fn stored(&self, id: TaskId) -> Option<StoredTask> {
        let entry = self.tasks.get(&id)?;
        Some(StoredTask {
            record: entry.record.clone(),
            scheduled_at: entry.scheduled_at,
            claim_keys: entry
                .claim_keys
                .iter()
                .map(|k| self.keys.name(*k).clone())
                .collect(),
        })
    }

    /// A state holding exactly the snapshot's tasks, policies and limits, with every index
    /// rebuilt: each task is placed by its status, leases keep their fence and expiry (and count
    /// against their agent and keys), and the next seq and fence follow the largest kept.
    /// Stride passes, token buckets and statistics start afresh.
    pub(super) fn restore(
        config: QueueConfig,
        snapshot: Snapshot,
        now: OffsetDateTime,
    ) -> Result<Self, QueueError> {
        let mut state = Self::new(config);
        state.next_seq = snapshot.counters.next_seq;
        state.next_fence = snapshot.counters.last_fence;
        for (tenant, policy) in snapshot.policies {
            state.set_tenant_policy(&tenant, policy, now)?;
        }
        for (key, limit) in snapshot.limits {
            state.set_limit(&key, Some(limit), now)?;
        }
        let mut tasks = snapshot.tasks;
        tasks.sort_unstable_by_key(|t| t.record.seq);
        let mut finished = Vec::new();
        let mut blocked = Vec::new();
        for stored in tasks {
            let id = stored.record.id;
            if state.tasks.contains_key(&id) {
                return Err(QueueError::AlreadyExists(id));
            }
            if let Some((at, id)) = state.restore_task(stored, now)? {
                finished.push((at, id));
            }
            if state.tasks[&id].record.status == TaskStatus::Blocked {
                blocked.push(id);
            }
        }
        finished.sort_unstable();
        state.finished = finished.into();
        for id in blocked {
            let deps = state.tasks[&id].record.depends_on.clone();
            let mut unmet = 0;
            for d in deps.iter() {
                // A dependency purged since must have finished; only a completed one could
                // leave a dependent still blocked, so a missing one counts as met.
                if let Some(dep) = state.tasks.get_mut(d)
                    && dep.record.status != TaskStatus::Completed
                {
                    dep.has_dependents = true;
                    state.dependents.entry(*d).or_default().push(id);
                    unmet += 1;
                }
            }
            state.tasks.get_mut(&id).expect("restored").unmet = unmet;
        }
        Ok(state)
    }

    /// Inserts one stored task and indexes it by status; returns its finish time when it is
    /// completed or cancelled (the caller orders those).
    fn restore_task(
        &mut self,
        stored: StoredTask,
        now: OffsetDateTime,
    ) -> Result<Option<(OffsetDateTime, TaskId)>, QueueError> {
        let StoredTask {
            record,
            scheduled_at,
            claim_keys,
        } = stored;
        let id = record.id;
        let t = self.intern_tenant(&record.tenant, now);
        let req = self.requirement_of(t, &record.capabilities, &record.limit_keys, now);
        let mut claim: Vec<KeyIdx> = claim_keys
            .iter()
            .map(|k| self.keys.intern(k, now))
            .collect();
        claim.sort_unstable();
        claim.dedup();
        let missing = |field: &'static str| QueueError::Invalid {
            field,
            reason: format!("stored task {id} is {} without it", record.status),
        };
        let status = record.status;
        let seq = record.seq;
        self.next_seq = self.next_seq.max(seq + 1);
        self.by_seq.insert(seq, id);
        if let Some(group) = record.group {
            self.groups.entry(group).or_default().insert(seq, id);
        }
        if let Some(key) = &record.idempotency_key {
            self.idempotency.insert((t, key.clone()), id);
        }
        if status.is_queued() {
            self.tenants[t.0 as usize].queued += 1;
        }
        let mut finished = None;
        match status {
            TaskStatus::Pending | TaskStatus::Blocked => {}
            TaskStatus::Scheduled | TaskStatus::Failed => {
                let due = record.due_at.ok_or_else(|| missing("due_at"))?;
                self.timers.insert((due, id));
            }
            TaskStatus::Assigned | TaskStatus::Running => {
                let fence = record.lease_fence.ok_or_else(|| missing("lease_fence"))?;
                let expires = record
                    .lease_expires_at
                    .ok_or_else(|| missing("lease_expires_at"))?;
                let agent = record.assignee.clone().ok_or_else(|| missing("assignee"))?;
                self.next_fence = self.next_fence.max(fence);
                self.leases.insert((expires, id));
                *self.loads.entry(agent).or_default() += 1;
                let keys = self.requirements[req.0 as usize].keys.clone();
                self.keys.acquire(&keys, &claim, now);
            }
            TaskStatus::DeadLetter => {
                let at = record
                    .dead_lettered_at
                    .ok_or_else(|| missing("dead_lettered_at"))?;
                self.dead.insert((at, id));
            }
            TaskStatus::Completed | TaskStatus::Cancelled => {
                finished = Some((
                    record.finished_at.ok_or_else(|| missing("finished_at"))?,
                    id,
                ));
            }
        }
        let priority = record.priority;
        self.tasks.insert(
            id,
            Box::new(Entry {
                record,
                tenant: t,
                req,
                level: priority,
                aging_at: None,
                scheduled_at,
                unmet: 0,
                has_dependents: false,
                claim_keys: if status.is_leased() {
                    claim.into()
                } else {
                    Box::default()
                },
            }),
        );
        if status == TaskStatus::Pending {
            // Through the lanes as any task that becomes pending (aging restarts from now).
            let entry = self.tasks.get_mut(&id).expect("just inserted");
            entry.record.status = TaskStatus::Blocked;
            let updated = entry.record.updated_at;
            self.make_pending(id, now)
                .expect("blocked may become pending");
            self.tasks.get_mut(&id).expect("exists").record.updated_at = updated;
        }
        Ok(finished)
    }

    // ---- interning -------------------------------------------------------------------------

    fn intern_tenant(&mut self, id: &TenantId, now: OffsetDateTime) -> TenantIdx {
        if let Some(&t) = self.tenant_index.get(id) {
            return t;
        }
        let t = TenantIdx(u32::try_from(self.tenants.len()).expect("fewer than 2^32 tenants"));
        let key = self.keys.intern(&LimitKey::tenant(id), now);
        let plain_req = self.intern_requirement(Capabilities::none(), vec![key]);
        let policy = TenantPolicy::default();
        self.waiting.add_tenant(t, policy.weight);
        self.tenants.push(Tenant {
            id: id.clone(),
            key,
            policy,
            queued: 0,
            plain_req,
        });
        self.tenant_index.insert(id.clone(), t);
        t
    }

    fn intern_requirement(&mut self, capabilities: Capabilities, mut keys: Vec<KeyIdx>) -> ReqIdx {
        keys.sort_unstable();
        keys.dedup();
        let lookup = (capabilities, keys.into_boxed_slice());
        if let Some(&r) = self.requirement_index.get(&lookup) {
            return r;
        }
        let r = ReqIdx(u32::try_from(self.requirements.len()).expect("fewer than 2^32 sets"));
        self.requirements.push(Requirement {
            capabilities: lookup.0.clone(),
            keys: lookup.1.clone(),
        });
        self.requirement_index.insert(lookup, r);
        r
    }

    fn requirement_of(
        &mut self,
        tenant: TenantIdx,
        capabilities: &Capabilities,
        limit_keys: &[LimitKey],
        now: OffsetDateTime,
    ) -> ReqIdx {
        let tenant_key = self.tenants[tenant.0 as usize].key;
        if capabilities.is_empty() && limit_keys.is_empty() {
            return self.tenants[tenant.0 as usize].plain_req;
        }
        let mut keys = vec![tenant_key];
        keys.extend(limit_keys.iter().map(|k| self.keys.intern(k, now)));
        self.intern_requirement(capabilities.clone(), keys)
    }

    // ---- status bookkeeping ----------------------------------------------------------------

    /// Moves a task along one edge of the transition table; the only place statuses change.
    fn set_status(
        &mut self,
        id: TaskId,
        to: TaskStatus,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        let entry = self.tasks.get_mut(&id).ok_or(QueueError::NotFound(id))?;
        let from = entry.record.status;
        if !from.can_transition_to(to) {
            return Err(QueueError::IllegalTransition { task: id, from, to });
        }
        let tenant = &mut self.tenants[entry.tenant.0 as usize];
        match (from.is_queued(), to.is_queued()) {
            (false, true) => tenant.queued += 1,
            (true, false) => tenant.queued -= 1,
            _ => {}
        }
        entry.record.status = to;
        entry.record.updated_at = now;
        self.touch(id);
        Ok(())
    }

    fn entry(&self, id: TaskId) -> Result<&Entry, QueueError> {
        self.tasks
            .get(&id)
            .map(|e| &**e)
            .ok_or(QueueError::NotFound(id))
    }

    fn entry_mut(&mut self, id: TaskId) -> Result<&mut Entry, QueueError> {
        self.touch(id);
        self.tasks
            .get_mut(&id)
            .map(|e| &mut **e)
            .ok_or(QueueError::NotFound(id))
    }

    /// Puts a task in its lane as pending (from any status that may become pending).
    fn make_pending(&mut self, id: TaskId, now: OffsetDateTime) -> Result<(), QueueError> {
        self.set_status(id, TaskStatus::Pending, now)?;
        let aging_after = self.config.aging_after;
        let entry = self.tasks.get_mut(&id).expect("status just set");
        entry.record.due_at = None;
        entry.level = entry.record.priority;
        entry.aging_at = None;
        if let (Some(after), Some(_)) = (aging_after, entry.level.raised()) {
            let at = now + after;
            entry.aging_at = Some(at);
            self.aging.insert((at, id));
        }
        self.waiting
            .push(entry.level, entry.tenant, entry.req, entry.record.seq, id);
        Ok(())
    }

    /// Takes a pending task out of its lane (cancel).
    fn unqueue_pending(&mut self, id: TaskId) {
        let entry = &self.tasks[&id];
        let removed = self
            .waiting
            .remove(entry.level, entry.tenant, entry.req, entry.record.seq);
        debug_assert!(removed, "pending task was not in its lane");
        if let Some(at) = entry.aging_at {
            self.aging.remove(&(at, id));
        }
    }

    /// Waits a task in `timers` until `due_at` with the given status (scheduled or failed).
    fn make_waiting_until(
        &mut self,
        id: TaskId,
        status: TaskStatus,
        due_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        self.set_status(id, status, now)?;
        self.entry_mut(id)?.record.due_at = Some(due_at);
        self.timers.insert((due_at, id));
        Ok(())
    }

    /// Ends a task as cancelled with `reason`, and cancels the dependents blocked on it.
    fn finish_cancelled(
        &mut self,
        id: TaskId,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        self.set_status(id, TaskStatus::Cancelled, now)?;
        let entry = self.entry_mut(id)?;
        entry.record.last_error = Some(Arc::from(reason));
        entry.record.finished_at = Some(now);
        entry.record.due_at = None;
        entry.record.dead_lettered_at = None;
        self.finished.push_back((now, id));
        self.cascade_cancel(id, TaskStatus::Cancelled, now);
        Ok(())
    }

    fn dead_letter(&mut self, id: TaskId, now: OffsetDateTime) -> Result<(), QueueError> {
        self.set_status(id, TaskStatus::DeadLetter, now)?;
        let entry = self.entry_mut(id)?;
        entry.record.dead_lettered_at = Some(now);
        entry.record.finished_at = Some(now);
        self.dead.insert((now, id));
        self.stats.dead_lettered += 1;
        self.cascade_cancel(id, TaskStatus::DeadLetter, now);
        Ok(())
    }

    /// Cancels, transitively, every task still blocked on `id`, which ended as `status`.
    fn cascade_cancel(&mut self, id: TaskId, status: TaskStatus, now: OffsetDateTime) {
        let mut work: Vec<(TaskId, TaskId, TaskStatus)> = Vec::new();
        self.push_dependents(id, status, &mut work);
        while let Some((dependent, cause, cause_status)) = work.pop() {
            if self
                .tasks
                .get(&dependent)
                .is_some_and(|e| e.record.status == TaskStatus::Blocked)
            {
                let reason = format!("dependency {cause} is {cause_status}");
                self.set_status(dependent, TaskStatus::Cancelled, now)
                    .expect("blocked may cancel");
                let entry = self.tasks.get_mut(&dependent).expect("exists");
                entry.record.last_error = Some(Arc::from(reason));
                entry.record.finished_at = Some(now);
                self.finished.push_back((now, dependent));
                self.push_dependents(dependent, TaskStatus::Cancelled, &mut work);
            }
        }
    }

    fn push_dependents(
        &mut self,
        id: TaskId,
        status: TaskStatus,
        work: &mut Vec<(TaskId, TaskId, TaskStatus)>,
    ) {
        let Some(entry) = self.tasks.get_mut(&id) else {
            return;
        };
        if !std::mem::take(&mut entry.has_dependents) {
            return;
        }
        if let Some(list) = self.dependents.remove(&id) {
            work.extend(list.into_iter().map(|d| (d, id, status)));
        }
    }

    /// After `id` completed: dependents whose last dependency it was become due or scheduled.
    fn unblock_dependents(&mut self, id: TaskId, now: OffsetDateTime) -> Result<(), QueueError> {
        let mut work = Vec::new();
        self.push_dependents(id, TaskStatus::Completed, &mut work);
        for (dependent, _, _) in work {
            let Some(entry) = self.tasks.get_mut(&dependent) else {
                continue;
            };
            if entry.record.status != TaskStatus::Blocked {
                continue;
            }
            entry.unmet -= 1;
            if entry.unmet == 0 {
                match entry.scheduled_at.filter(|at| *at > now) {
                    Some(at) => {
                        self.make_waiting_until(dependent, TaskStatus::Scheduled, at, now)?
                    }
                    None => self.make_pending(dependent, now)?,
                }
            }
        }
        Ok(())
    }

    // ---- enqueue -----------------------------------------------------------------------------

    pub(super) fn enqueue_batch(
        &mut self,
        tasks: Vec<NewTask>,
        now: OffsetDateTime,
    ) -> Result<Vec<Enqueued>, QueueError> {
        if tasks.is_empty() {
            return Err(QueueError::invalid("batch", "must hold at least one task"));
        }
        self.validate_batch(&tasks)?;
        tasks.into_iter().map(|t| self.insert(t, now)).collect()
    }

    /// Checks a whole batch before any of it is applied, so a batch is all or nothing.
    fn validate_batch(&self, tasks: &[NewTask]) -> Result<(), QueueError> {
        let mut created: FxHashMap<TaskId, &TenantId> = FxHashMap::default();
        let mut keys: FxHashSet<(&TenantId, &str)> = FxHashSet::default();
        let mut added: FxHashMap<&TenantId, u64> = FxHashMap::default();
        for task in tasks {
            if let Some(key) = task.idempotency_key.as_deref() {
                if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                    return Err(QueueError::invalid(
                        "idempotency_key",
                        "must be 1 to 255 bytes",
                    ));
                }
                let known = self
                    .tenant_index
                    .get(&task.tenant)
                    .is_some_and(|t| self.idempotency.contains_key(&(*t, Arc::<str>::from(key))));
                if known || !keys.insert((&task.tenant, key)) {
                    continue; // deduplicated: nothing is created
                }
            }
            if task.max_attempts == Some(0) {
                return Err(QueueError::invalid("max_attempts", "must be at least 1"));
            }
            if self.tasks.contains_key(&task.id) || created.contains_key(&task.id) {
                return Err(QueueError::AlreadyExists(task.id));
            }
            let same_tenant = |id: &TaskId| {
                self.tasks
                    .get(id)
                    .is_some_and(|e| e.record.tenant == task.tenant)
                    || created.get(id).is_some_and(|t| **t == task.tenant)
            };
            for dependency in &task.depends_on {
                if *dependency == task.id {
                    return Err(QueueError::invalid(
                        "depends_on",
                        "a task cannot depend on itself",
                    ));
                }
                if !same_tenant(dependency) {
                    return Err(QueueError::UnknownDependency {
                        task: task.id,
                        dependency: *dependency,
                    });
                }
            }
            if let Some(parent) = task.parent_id
                && (parent == task.id || !same_tenant(&parent))
            {
                return Err(QueueError::UnknownParent {
                    task: task.id,
                    parent,
                });
            }
            created.insert(task.id, &task.tenant);
            *added.entry(&task.tenant).or_default() += 1;
        }
        for (tenant, n) in added {
            let Some(t) = self.tenant_index.get(tenant) else {
                continue;
            };
            let t = &self.tenants[t.0 as usize];
            if let Some(limit) = t.policy.max_queued
                && t.queued + n > limit
            {
                return Err(QueueError::QueueFull {
                    tenant: tenant.clone(),
                    limit,
                });
            }
        }
        Ok(())
    }

    /// Inserts one validated task.
    fn insert(&mut self, task: NewTask, now: OffsetDateTime) -> Result<Enqueued, QueueError> {
        let t = self.intern_tenant(&task.tenant, now);
        let idem_key: Option<Arc<str>> = task.idempotency_key.as_deref().map(Arc::from);
        if let Some(key) = &idem_key
            && let Some(&existing) = self.idempotency.get(&(t, key.clone()))
        {
            let record = &self.entry(existing)?.record;
            return Ok(Enqueued {
                id: existing,
                status: record.status,
                priority: record.priority,
                deduplicated: true,
            });
        }
        let priority = task
            .priority
            .or_else(|| {
                task.parent_id
                    .and_then(|p| self.tasks.get(&p))
                    .map(|e| e.record.priority)
            })
            .unwrap_or(self.config.default_priority);
        let req = self.requirement_of(t, &task.capabilities, &task.limit_keys, now);
        let seq = self.next_seq;
        self.next_seq += 1;

        let mut depends_on = task.depends_on;
        depends_on.sort_unstable();
        depends_on.dedup();
        let mut unmet = 0;
        let mut doomed: Option<(TaskId, TaskStatus)> = None;
        for d in &depends_on {
            match self.entry(*d)?.record.status {
                TaskStatus::Completed => {}
                s @ (TaskStatus::Cancelled | TaskStatus::DeadLetter) => {
                    doomed = doomed.or(Some((*d, s)))
                }
                _ => unmet += 1,
            }
        }
        let id = task.id;
        let record = TaskRecord {
            id,
            tenant: task.tenant,
            priority,
            // Placeholder: the task's first status is set below through the transition table.
            status: TaskStatus::Blocked,
            payload: task.payload,
            capabilities: task.capabilities,
            limit_keys: task.limit_keys.into(),
            attempt_count: 0,
            max_attempts: task.max_attempts.unwrap_or(self.config.retry.max_attempts),
            seq,
            created_at: now,
            updated_at: now,
            due_at: None,
            started_at: None,
            finished_at: None,
            dead_lettered_at: None,
            assignee: None,
            lease_fence: None,
            lease_expires_at: None,
            cancel_requested: false,
            last_error: None,
            result: None,
            depends_on: depends_on.into(),
            parent_id: task.parent_id,
            idempotency_key: idem_key.clone(),
            group: task.group,
        };
        self.tasks.insert(
            id,
            Box::new(Entry {
                record,
                tenant: t,
                req,
                level: priority,
                aging_at: None,
                scheduled_at: task.scheduled_at,
                unmet,
                has_dependents: false,
                claim_keys: Box::default(),
            }),
        );
        self.touch(id);
        self.by_seq.insert(seq, id);
        if let Some(group) = task.group {
            self.groups.entry(group).or_default().insert(seq, id);
        }
        self.tenants[t.0 as usize].queued += 1; // counted as blocked until placed
        if let Some(key) = idem_key {
            self.idempotency.insert((t, key), id);
        }
        self.stats.enqueued += 1;

        if let Some((cause, status)) = doomed {
            self.finish_cancelled(id, &format!("dependency {cause} is {status}"), now)?;
        } else if unmet > 0 {
            let deps = self.tasks[&id].record.depends_on.clone();
            for d in deps.iter() {
                let dep = self.tasks.get_mut(d).expect("validated");
                if dep.record.status != TaskStatus::Completed {
                    dep.has_dependents = true;
                    self.dependents.entry(*d).or_default().push(id);
                }
            }
        } else {
            match task.scheduled_at.filter(|at| *at > now) {
                Some(at) => self.make_waiting_until(id, TaskStatus::Scheduled, at, now)?,
                None => self.make_pending(id, now)?,
            }
        }
        let record = &self.tasks[&id].record;
        Ok(Enqueued {
            id,
            status: record.status,
            priority,
            deduplicated: false,
        })
    }

    // ---- time-driven moves -------------------------------------------------------------------

    /// Moves scheduled and failed tasks whose time has come to pending.
    pub(super) fn promote_due(&mut self, now: OffsetDateTime) -> u64 {
        let mut moved = 0;
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.make_pending(id, now)
                .expect("timers hold only scheduled or failed tasks");
            moved += 1;
        }
        moved
    }

    /// Raises waiting tasks whose aging time has come by one level each interval.
    fn apply_aging(&mut self, now: OffsetDateTime) {
        let Some(after) = self.config.aging_after else {
            return;
        };
        while let Some(&(at, id)) = self.aging.first() {
            if at > now {
                break;
            }
            self.aging.pop_first();
            let entry = self
                .tasks
                .get_mut(&id)
                .expect("aging holds only pending tasks");
            let Some(raised) = entry.level.raised() else {
                continue;
            };
            self.waiting
                .remove(entry.level, entry.tenant, entry.req, entry.record.seq);
            entry.level = raised;
            self.waiting
                .push(raised, entry.tenant, entry.req, entry.record.seq, id);
            entry.aging_at = raised.raised().map(|_| at + after);
            if let Some(next) = entry.aging_at {
                self.aging.insert((next, id));
            }
        }
    }

    fn catch_up(&mut self, now: OffsetDateTime) {
        self.promote_due(now);
        self.apply_aging(now);
    }

    // ---- claims and leases -------------------------------------------------------------------

    pub(super) fn claim(
        &mut self,
        agent: &AgentId,
        eligibility: &Eligibility,
        max: usize,
        now: OffsetDateTime,
    ) -> Vec<Lease> {
        self.catch_up(now);
        let mut claim_keys: Vec<KeyIdx> = eligibility
            .keys
            .iter()
            .map(|k| self.keys.intern(k, now))
            .collect();
        claim_keys.sort_unstable();
        claim_keys.dedup();
        let tenants: Option<FxHashSet<TenantIdx>> = eligibility.tenants.as_ref().map(|list| {
            list.iter()
                .filter_map(|t| self.tenant_index.get(t).copied())
                .collect()
        });

        let mut leases = Vec::with_capacity(max.min(64));
        let mut throttled = false;
        while leases.len() < max {
            if !self.keys.allows(&claim_keys, &[], now) {
                throttled = true;
                break;
            }
            let (requirements, keys) = (&self.requirements, &self.keys);
            let (selection, skipped) = self.waiting.select(
                |t| tenants.as_ref().is_none_or(|set| set.contains(&t)),
                |_, r| {
                    let req = &requirements[r.0 as usize];
                    if !req.capabilities.is_subset_of(&eligibility.capabilities) {
                        LaneCheck::Incapable
                    } else if !keys.allows(&req.keys, &[], now) {
                        LaneCheck::Throttled
                    } else {
                        LaneCheck::Eligible
                    }
                },
            );
            throttled |= skipped;
            let Some(selection) = selection else { break };
            let id = self.waiting.take(selection);
            leases.push(self.lease(id, agent, &claim_keys, now));
        }
        if throttled {
            self.stats.throttled += 1;
        }
        leases
    }

    /// Leases a task just taken from its lane.
    fn lease(
        &mut self,
        id: TaskId,
        agent: &AgentId,
        claim_keys: &[KeyIdx],
        now: OffsetDateTime,
    ) -> Lease {
        self.set_status(id, TaskStatus::Assigned, now)
            .expect("waiting tasks are pending");
        self.next_fence += 1;
        let fence = self.next_fence;
        let expires_at = now + self.config.lease_ttl;
        let entry = self.tasks.get_mut(&id).expect("exists");
        if let Some(at) = entry.aging_at.take() {
            self.aging.remove(&(at, id));
        }
        entry.record.assignee = Some(agent.clone());
        entry.record.lease_fence = Some(fence);
        entry.record.lease_expires_at = Some(expires_at);
        entry.record.cancel_requested = false;
        entry.claim_keys = claim_keys.into();
        let req = &self.requirements[entry.req.0 as usize];
        self.keys.acquire(&req.keys, claim_keys, now);
        match self.loads.get_mut(agent) {
            Some(load) => *load += 1,
            None => {
                self.loads.insert(agent.clone(), 1);
            }
        }
        self.leases.insert((expires_at, id));
        self.stats.claimed += 1;
        Lease {
            token: LeaseToken { task: id, fence },
            expires_at,
            attempt: entry.record.attempt_count + 1,
            task: entry.record.clone(),
        }
    }

    /// Checks that `token` is the task's live lease.
    fn check(&self, token: &LeaseToken, now: OffsetDateTime) -> Result<&Entry, QueueError> {
        let entry = self.entry(token.task)?;
        let refuse = |reason| {
            Err(QueueError::StaleLease {
                task: token.task,
                reason,
            })
        };
        match (entry.record.lease_fence, entry.record.lease_expires_at) {
            (Some(fence), Some(expires)) if fence == token.fence => {
                if now >= expires {
                    refuse(LeaseRefusal::Expired)
                } else {
                    Ok(entry)
                }
            }
            (Some(_), _) => refuse(LeaseRefusal::Superseded),
            _ => refuse(LeaseRefusal::NotLeased),
        }
    }

    /// Ends a task's lease: unindexes it and gives back the agent's load and the keys' counts
    /// exactly once. Returns the agent that held it.
    fn end_lease(&mut self, id: TaskId) -> AgentId {
        self.touch(id);
        let entry = self.tasks.get_mut(&id).expect("leased task exists");
        let agent = entry
            .record
            .assignee
            .take()
            .expect("leased task has an assignee");
        let expires = entry
            .record
            .lease_expires_at
            .take()
            .expect("leased task has an expiry");
        entry.record.lease_fence = None;
        self.leases.remove(&(expires, id));
        let req = &self.requirements[entry.req.0 as usize];
        self.keys.release(&req.keys, &entry.claim_keys);
        entry.claim_keys = Box::default();
        if let Some(load) = self.loads.get_mut(&agent) {
            *load -= 1;
        }
        agent
    }

    pub(super) fn start(
        &mut self,
        token: &LeaseToken,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        if self.check(token, now)?.record.status == TaskStatus::Running {
            return Ok(());
        }
        self.set_status(token.task, TaskStatus::Running, now)?;
        self.entry_mut(token.task)?.record.started_at = Some(now);
        Ok(())
    }

    pub(super) fn heartbeat(
        &mut self,
        token: &LeaseToken,
        now: OffsetDateTime,
    ) -> Result<Heartbeat, QueueError> {
        let old = self
            .check(token, now)?
            .record
            .lease_expires_at
            .expect("live lease");
        let expires_at = now + self.config.lease_ttl;
        self.leases.remove(&(old, token.task));
        self.leases.insert((expires_at, token.task));
        let entry = self.entry_mut(token.task)?;
        entry.record.lease_expires_at = Some(expires_at);
        entry.record.updated_at = now;
        Ok(Heartbeat {
            expires_at,
            cancel_requested: entry.record.cancel_requested,
        })
    }

    pub(super) fn ack(
        &mut self,
        token: &LeaseToken,
        result: Option<Payload>,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        self.check(token, now)?;
        self.end_lease(token.task);
        self.set_status(token.task, TaskStatus::Completed, now)?;
        let entry = self.entry_mut(token.task)?;
        entry.record.result = result;
        entry.record.finished_at = Some(now);
        self.finished.push_back((now, token.task));
        self.stats.completed += 1;
        self.unblock_dependents(token.task, now)
    }

    pub(super) fn fail(
        &mut self,
        token: &LeaseToken,
        failure: Failure,
        jitter: &dyn Jitter,
        now: OffsetDateTime,
    ) -> Result<FailOutcome, QueueError> {
        self.check(token, now)?;
        let id = token.task;
        self.end_lease(id);
        if self.entry(id)?.record.cancel_requested {
            self.finish_cancelled(id, "cancelled while running", now)?;
            return Ok(FailOutcome::Cancelled);
        }
        self.stats.failed_attempts += 1;
        let entry = self.entry_mut(id)?;
        entry.record.attempt_count += 1;
        entry.record.last_error = Some(Arc::from(failure.message.as_str()));
        let attempts = entry.record.attempt_count;
        if !failure.retryable || attempts >= entry.record.max_attempts {
            self.dead_letter(id, now)?;
            return Ok(FailOutcome::DeadLettered);
        }
        let backoff = self.config.retry.delay(attempts, jitter);
        let due_at = now + backoff.max(failure.retry_after.unwrap_or(Duration::ZERO));
        self.make_waiting_until(id, TaskStatus::Failed, due_at, now)?;
        Ok(FailOutcome::Retrying {
            attempt_count: attempts,
            due_at,
        })
    }

    pub(super) fn release(
        &mut self,
        token: &LeaseToken,
        now: OffsetDateTime,
    ) -> Result<TaskStatus, QueueError> {
        self.check(token, now)?;
        self.end_lease(token.task);
        if self.entry(token.task)?.record.cancel_requested {
            self.finish_cancelled(token.task, "cancelled while leased", now)?;
        } else {
            self.make_pending(token.task, now)?;
        }
        Ok(self.entry(token.task)?.record.status)
    }

    /// Recovers a lease that expired or whose agent was lost: counts a failed attempt.
    fn recover(
        &mut self,
        id: TaskId,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Requeued, QueueError> {
        let agent = self.end_lease(id);
        if self.entry(id)?.record.cancel_requested {
            self.finish_cancelled(id, "cancelled while leased", now)?;
        } else {
            self.stats.failed_attempts += 1;
            let entry = self.entry_mut(id)?;
            entry.record.attempt_count += 1;
            entry.record.last_error = Some(Arc::from(reason));
            if entry.record.attempt_count >= entry.record.max_attempts {
                self.dead_letter(id, now)?;
            } else {
                self.make_pending(id, now)?;
            }
        }
        Ok(Requeued {
            task: id,
            agent,
            status: self.entry(id)?.record.status,
        })
    }

    pub(super) fn reap_expired(
        &mut self,
        now: OffsetDateTime,
    ) -> Result<Vec<Requeued>, QueueError> {
        let expired: Vec<TaskId> = self
            .leases
            .range(..=(now, TaskId::from_u128(u128::MAX)))
            .map(|(_, id)| *id)
            .collect();
        expired
            .into_iter()
            .map(|id| self.recover(id, "lease expired", now))
            .collect()
    }

    pub(super) fn fail_over(
        &mut self,
        agent: &AgentId,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Requeued>, QueueError> {
        if self.loads.get(agent).is_none_or(|l| *l == 0) {
            return Ok(Vec::new());
        }
        let held: Vec<TaskId> = self
            .leases
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| self.tasks[id].record.assignee.as_ref() == Some(agent))
            .collect();
        let reason = format!("failover: {reason}");
        held.into_iter()
            .map(|id| self.recover(id, &reason, now))
            .collect()
    }

    // ---- cancel and dead letters -------------------------------------------------------------

    pub(super) fn cancel(
        &mut self,
        id: TaskId,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<CancelOutcome, QueueError> {
        let record = &self.entry(id)?.record;
        let (status, due_at, dead_at) = (record.status, record.due_at, record.dead_lettered_at);
        match status {
            TaskStatus::Assigned | TaskStatus::Running => {
                let entry = self.entry_mut(id)?;
                entry.record.cancel_requested = true;
                entry.record.updated_at = now;
                return Ok(CancelOutcome::Requested);
            }
            TaskStatus::Pending => self.unqueue_pending(id),
            TaskStatus::Scheduled | TaskStatus::Failed => {
                if let Some(at) = due_at {
                    self.timers.remove(&(at, id));
                }
            }
            TaskStatus::DeadLetter => {
                if let Some(at) = dead_at {
                    self.dead.remove(&(at, id));
                }
            }
            TaskStatus::Blocked | TaskStatus::Completed | TaskStatus::Cancelled => {}
        }
        self.finish_cancelled(id, reason, now)?;
        Ok(CancelOutcome::Cancelled)
    }

    pub(super) fn replay(&mut self, id: TaskId, now: OffsetDateTime) -> Result<(), QueueError> {
        let record = &self.entry(id)?.record;
        if record.status != TaskStatus::DeadLetter {
            return Err(QueueError::NotDeadLettered {
                task: id,
                status: record.status,
            });
        }
        if let Some(at) = record.dead_lettered_at {
            self.dead.remove(&(at, id));
        }
        let entry = self.entry_mut(id)?;
        entry.record.attempt_count = 0;
        entry.record.dead_lettered_at = None;
        entry.record.finished_at = None;
        self.make_pending(id, now)
    }

    fn dead_letter_ids<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        after: Option<DeadLetterCursor>,
    ) -> impl Iterator<Item = TaskId> + 'a {
        let start = after.map_or(Bound::Unbounded, |c| Bound::Excluded((c.at, c.id)));
        self.dead
            .range((start, Bound::Unbounded))
            .map(|(_, id)| *id)
            .filter(move |id| filter.matches(&self.tasks[id].record))
    }

    pub(super) fn replay_dead_letters(
        &mut self,
        filter: &DeadLetterFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<TaskId>, QueueError> {
        let ids: Vec<TaskId> = self.dead_letter_ids(filter, None).collect();
        for id in &ids {
            self.replay(*id, now)?;
        }
        Ok(ids)
    }

    pub(super) fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<DeadLetterCursor>,
        limit: usize,
    ) -> Vec<TaskRecord> {
        self.dead_letter_ids(filter, after)
            .take(limit)
            .map(|id| self.tasks[&id].record.clone())
            .collect()
    }

    fn remove_task(&mut self, id: TaskId) {
        if let Some(entry) = self.tasks.remove(&id) {
            if let Some(journal) = &mut self.journal {
                journal.task_removed(id);
            }
            let seq = entry.record.seq;
            self.by_seq.remove(&seq);
            if let Some(group) = entry.record.group
                && let Some(members) = self.groups.get_mut(&group)
            {
                members.remove(&seq);
                if members.is_empty() {
                    self.groups.remove(&group);
                }
            }
            if let Some(key) = entry.record.idempotency_key {
                self.idempotency.remove(&(entry.tenant, key));
            }
            if entry.has_dependents {
                self.dependents.remove(&id);
            }
            if entry.record.status.is_queued() {
                self.tenants[entry.tenant.0 as usize].queued -= 1;
            }
        }
    }

    pub(super) fn purge_dead_letters(&mut self, retention: Duration, now: OffsetDateTime) -> u64 {
        let cutoff = now - retention;
        let mut purged = 0;
        while let Some(&(at, id)) = self.dead.first() {
            if at >= cutoff {
                break;
            }
            self.dead.pop_first();
            self.remove_task(id);
            purged += 1;
        }
        purged
    }

    pub(super) fn purge_finished(&mut self, retention: Duration, now: OffsetDateTime) -> u64 {
        let cutoff = now - retention;
        let mut purged = 0;
        while let Some(&(at, id)) = self.finished.front() {
            if at >= cutoff {
                break;
            }
            self.finished.pop_front();
            let still_finished = self
                .tasks
                .get(&id)
                .is_some_and(|e| e.record.status.is_terminal() && e.record.finished_at == Some(at));
            if still_finished {
                self.remove_task(id);
                purged += 1;
            }
        }
        purged
    }

    // ---- reads and settings ------------------------------------------------------------------

    pub(super) fn get(
        &mut self,
        id: TaskId,
        now: OffsetDateTime,
    ) -> Result<TaskRecord, QueueError> {
        self.catch_up(now);
        Ok(self.entry(id)?.record.clone())
    }

    /// The tasks `list` and `count` scan for `query`, by `seq`: its group's when it names one
    /// (`None` when the group has no task), else every task.
    fn seq_index(&self, query: &TaskQuery) -> Option<&BTreeMap<u64, TaskId>> {
        match query.group {
            Some(group) => self.groups.get(&group),
            None => Some(&self.by_seq),
        }
    }

    /// A page of matching tasks in `seq` order. Finding the start costs O(log n); then each task
    /// of the scanned index (the group's, or all) costs one filter check until the page is full,
    /// so a filter that matches few tasks of a large index scans most of it.
    pub(super) fn list(
        &mut self,
        query: &TaskQuery,
        after: Option<u64>,
        limit: usize,
        now: OffsetDateTime,
    ) -> Vec<TaskRecord> {
        self.catch_up(now);
        let Some(index) = self.seq_index(query) else {
            return Vec::new();
        };
        let matching = |(_, id): (&u64, &TaskId)| {
            let record = &self.tasks[id].record;
            query.matches(record).then(|| record.clone())
        };
        let after = after.map_or(Bound::Unbounded, Bound::Excluded);
        if query.newest_first {
            index
                .range((Bound::Unbounded, after))
                .rev()
                .filter_map(matching)
                .take(limit)
                .collect()
        } else {
            index
                .range((after, Bound::Unbounded))
                .filter_map(matching)
                .take(limit)
                .collect()
        }
    }

    /// Matching tasks by status: one filter check per task of the scanned index (the group's,
    /// or all), O(n).
    pub(super) fn count(&mut self, query: &TaskQuery, now: OffsetDateTime) -> StatusCounts {
        self.catch_up(now);
        let Some(index) = self.seq_index(query) else {
            return StatusCounts::default();
        };
        index
            .values()
            .map(|id| &self.tasks[id].record)
            .filter(|record| query.matches(record))
            .map(|record| record.status)
            .collect()
    }

    pub(super) fn depth(&mut self, now: OffsetDateTime) -> Depth {
        self.catch_up(now);
        let mut depth = Depth::default();
        for p in Priority::ALL {
            depth.by_priority[p.rank()] = self.waiting.count(p);
        }
        for (i, tenant) in self.tenants.iter().enumerate() {
            let t = TenantIdx(u32::try_from(i).expect("fits"));
            let counts = Priority::ALL.map(|p| self.waiting.tenant_count(t, p));
            if counts.iter().any(|c| *c > 0) {
                depth.by_tenant.insert(tenant.id.clone(), counts);
            }
        }
        depth
    }

    pub(super) fn load(&self, agent: &AgentId) -> u32 {
        self.loads.get(agent).copied().unwrap_or(0)
    }

    pub(super) fn set_tenant_policy(
        &mut self,
        tenant: &TenantId,
        policy: TenantPolicy,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        policy.validate()?;
        let t = self.intern_tenant(tenant, now);
        self.tenants[t.0 as usize].policy = policy;
        self.waiting.set_weight(t, policy.weight);
        if let Some(journal) = &mut self.journal {
            journal.policy_set(tenant, policy);
        }
        Ok(())
    }

    pub(super) fn set_limit(
        &mut self,
        key: &LimitKey,
        limit: Option<Limit>,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        let limit = limit.unwrap_or_default();
        limit.validate()?;
        let idx = match self.keys.get(key) {
            Some(idx) => idx,
            None => self.keys.intern(key, now),
        };
        self.keys.set_limit(idx, limit, now);
        if let Some(journal) = &mut self.journal {
            journal.limit_set(key, limit);
        }
        Ok(())
    }

    pub(super) fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Every dead letter matching `filter`, oldest first (a snapshot).
    pub(super) fn export_dead_letters(&self, filter: &DeadLetterFilter) -> Vec<TaskRecord> {
        self.dead_letters(filter, None, usize::MAX)
    }
}
