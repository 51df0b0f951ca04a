//! The change journal: what a durable store built on the memory store must write, and the
//! snapshot it restores from.
//!
//! With the journal on, every operation marks the tasks it changed or removed and the tenant
//! policies and limits it set; [`JournalBatch`] hands them over (each task in its latest state)
//! together with a version that grows with every change. A store that writes each batch before
//! answering its callers, and a [`Snapshot`] of what it wrote to restart from, makes the
//! memory store durable without repeating its logic (the SQLite store does exactly this).

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::{Limit, TenantPolicy};
use crate::ids::{LimitKey, TaskId, TenantId};
use crate::task::TaskRecord;

/// One task as a durable store keeps it: its record plus the little state the record does
/// not show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTask {
    /// The task as readers see it.
    pub record: TaskRecord,
    /// Its own `scheduled_at`, applied when its dependencies complete (while blocked).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub scheduled_at: Option<OffsetDateTime>,
    /// The claimant's limit keys, counted while the task is leased.
    #[serde(default)]
    pub claim_keys: Vec<LimitKey>,
}

/// The changes since the previous batch, each task in its latest state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalBatch {
    /// The journal's version once this batch is written: every change up to it is included.
    pub version: u64,
    /// Tasks created or changed.
    pub tasks: Vec<StoredTask>,
    /// Tasks purged.
    pub removed: Vec<TaskId>,
    /// Tenant policies set.
    pub policies: Vec<(TenantId, TenantPolicy)>,
    /// Limits set (a cleared limit appears as the default, unlimited [`Limit`]).
    pub limits: Vec<(LimitKey, Limit)>,
    /// The counters at this version (always set): keep the latest, so a restored store never
    /// hands out a fence or enqueue position twice, even for tasks purged since.
    pub counters: Counters,
}

/// The store's high-water marks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// The `seq` the next enqueued task gets.
    pub next_seq: u64,
    /// The last fence handed out.
    pub last_fence: u64,
}

impl JournalBatch {
    /// Whether there is nothing to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
            && self.removed.is_empty()
            && self.policies.is_empty()
            && self.limits.is_empty()
    }
}

/// Everything a durable store kept, to rebuild a memory store from
/// ([`MemoryQueueStore::restore`](crate::MemoryQueueStore::restore)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Every task not purged, in any order.
    pub tasks: Vec<StoredTask>,
    /// Every tenant policy set.
    pub policies: Vec<(TenantId, TenantPolicy)>,
    /// Every limit set.
    pub limits: Vec<(LimitKey, Limit)>,
    /// The latest counters written ([`JournalBatch::counters`]).
    pub counters: Counters,
}

/// What changed since the last batch was taken.
#[derive(Debug, Default)]
pub(super) struct Journal {
    version: u64,
    tasks: FxHashSet<TaskId>,
    removed: FxHashSet<TaskId>,
    policies: FxHashMap<TenantId, TenantPolicy>,
    limits: FxHashMap<LimitKey, Limit>,
}

impl Journal {
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    pub(super) fn task_changed(&mut self, id: TaskId) {
        self.version += 1;
        self.removed.remove(&id);
        self.tasks.insert(id);
    }

    pub(super) fn task_removed(&mut self, id: TaskId) {
        self.version += 1;
        self.tasks.remove(&id);
        self.removed.insert(id);
    }

    pub(super) fn policy_set(&mut self, tenant: &TenantId, policy: TenantPolicy) {
        self.version += 1;
        self.policies.insert(tenant.clone(), policy);
    }

    pub(super) fn limit_set(&mut self, key: &LimitKey, limit: Limit) {
        self.version += 1;
        self.limits.insert(key.clone(), limit);
    }

    /// Empties the journal; `task` turns a changed id into its stored form.
    pub(super) fn take(
        &mut self,
        counters: Counters,
        task: impl Fn(TaskId) -> Option<StoredTask>,
    ) -> JournalBatch {
        let mut removed: Vec<TaskId> = self.removed.drain().collect();
        let mut tasks = Vec::with_capacity(self.tasks.len());
        for id in self.tasks.drain() {
            match task(id) {
                Some(stored) => tasks.push(stored),
                None => removed.push(id),
            }
        }
        tasks.sort_unstable_by_key(|t| t.record.seq);
        removed.sort_unstable();
        JournalBatch {
            version: self.version,
            tasks,
            removed,
            policies: self.policies.drain().collect(),
            limits: self.limits.drain().collect(),
            counters,
        }
    }
}
