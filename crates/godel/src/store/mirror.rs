//! Mirroring: after a write commits on Postgres, the tasks it affected are re-read there and
//! restored into the Redis index.
//!
//! Mirrors of one task are ordered: each holds the task's stripe lock across reading Postgres
//! and restoring Redis, so a later mirror always writes a state at least as new as an earlier
//! one. Mirrors hold the rebuild gate shared, so during a rebuild they wait and then read
//! Postgres afresh. While the index is down they are skipped (the rebuild will read Postgres).

use std::collections::BTreeSet;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};

use std::sync::Arc;

use async_trait::async_trait;
use godel_engine::combine::Serve;
use godel_queue::{QueueError, Requeued, TaskId, TaskStatus};
use tokio::sync::Mutex;

use super::paired::{Inner, State};

/// How many locks the task ids are spread over.
const STRIPES: usize = 64;

/// A fixed set of locks, one per task id hash.
pub(super) struct Stripes {
    locks: Vec<Mutex<()>>,
    hasher: RandomState,
}

impl Stripes {
    /// The locks, all free.
    pub(super) fn new() -> Self {
        Self {
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Which lock orders the mirrors of `id`.
    fn of(&self, id: TaskId) -> usize {
        usize::try_from(self.hasher.hash_one(id) % STRIPES as u64).unwrap_or(0)
    }
}

/// One caller's mirror: the tasks its write affected, and whether their dependents too.
pub(super) struct MirrorRequest {
    pub(super) ids: Vec<TaskId>,
    pub(super) dependents: bool,
}

/// Mirrors, combined: every mirror waiting is served by one read of Postgres and one restore
/// into Redis, under the gate and the stripe locks of all their tasks.
pub(super) struct Mirrors {
    pub(super) inner: Arc<Inner>,
}

#[async_trait]
impl Serve for Mirrors {
    type Request = MirrorRequest;
    type Response = ();
    type Fault = QueueError;

    async fn serve(
        &self,
        requests: &[MirrorRequest],
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        let mut ids = Vec::new();
        let mut of = Vec::new();
        for request in requests {
            ids.extend_from_slice(&request.ids);
            if request.dependents {
                of.extend_from_slice(&request.ids);
            }
        }
        if !ids.is_empty() && !matches!(self.inner.state(), State::Down(_)) {
            let _gate = self.inner.gate.read().await;
            self.inner.mirror_held_with(ids, &of).await;
        }
        Ok(requests.iter().map(|_| Ok(())).collect())
    }
}

impl Inner {
    /// Mirrors `ids` (and, with `dependents`, every task that depends on them, transitively)
    /// unless the index is down.
    pub(super) async fn mirror(&self, ids: Vec<TaskId>, dependents: bool) {
        if ids.is_empty() || matches!(self.state(), State::Down(_)) {
            return;
        }
        let _gate = self.gate.read().await;
        self.mirror_held(ids, dependents).await;
    }

    /// [`mirror`](Self::mirror) with the gate already held by the caller.
    pub(super) async fn mirror_held(&self, ids: Vec<TaskId>, dependents: bool) {
        let of = if dependents { ids.clone() } else { Vec::new() };
        self.mirror_held_with(ids, &of).await;
    }

    /// Mirrors `ids` and every task that depends (transitively) on one of `of`; the gate is
    /// held by the caller.
    async fn mirror_held_with(&self, mut ids: Vec<TaskId>, of: &[TaskId]) {
        if self.state() != State::Indexed {
            return;
        }
        if !of.is_empty() {
            match self.pg.dependents(of).await {
                Ok(found) => ids.extend(found),
                Err(error) => {
                    self.degrade(format!("could not read dependents to mirror: {error}"));
                    return;
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let stripes: BTreeSet<usize> = ids.iter().map(|id| self.stripes.of(*id)).collect();
        let mut guards = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            guards.push(self.stripes.locks[stripe].lock().await);
        }
        let records = match self.pg.mirror_records(&ids).await {
            Ok(records) => records,
            Err(error) => {
                self.degrade(format!("could not read tasks to mirror: {error}"));
                return;
            }
        };
        let held: Vec<_> = records
            .into_iter()
            .map(|m| (m.record, m.claim_keys))
            .collect();
        if let Err(error) = self.redis.restore_with_claim_keys(&held).await {
            self.degrade(format!("redis mirror failed: {error}"));
        }
    }

    /// Mirrors the tasks whose leases were recovered, with the dependents of those that ended.
    pub(super) async fn mirror_requeued(&self, out: &[Requeued]) {
        let ended = out
            .iter()
            .any(|r| matches!(r.status, TaskStatus::Cancelled | TaskStatus::DeadLetter));
        self.mirror(out.iter().map(|r| r.task).collect(), ended)
            .await;
    }

    /// Applies a write to the index too (settings, purges), unless it is down.
    pub(super) async fn on_index(
        &self,
        what: &str,
        write: impl Future<Output = Result<impl Sized, QueueError>> + Send,
    ) {
        if matches!(self.state(), State::Down(_)) {
            return;
        }
        let _gate = self.gate.read().await;
        if self.state() != State::Indexed {
            return;
        }
        if let Err(error) = write.await {
            self.degrade(format!("redis could not {what}: {error}"));
        }
    }
}
