//! The reconciler: rebuilds the Redis index from Postgres, on demand
//! ([`PairedQueueStore::reconcile`]) and in the background
//! ([`PairedQueueStore::spawn_reconciler`]: at start, then every interval if the index is
//! down and Redis answers, or if the index's sentinel is gone).

use std::time::Duration;

use godel_queue::{QueueError, QueueStore};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::paired::{Inner, PairedQueueStore, State};

impl PairedQueueStore {
    /// Rebuilds the index from Postgres and starts using it: wipes the store's Redis prefix,
    /// restores every task Postgres holds (leases with their claimant keys), re-applies tenant
    /// policies and limits, raises Redis's sequence and fence counters to Postgres's, and writes
    /// the sentinel. Meanwhile claims run on Postgres and mirrors wait (then read Postgres
    /// afresh). On failure the store stays degraded with the error as its reason.
    ///
    /// # Errors
    /// The first error of either store ([`QueueError::Unavailable`]).
    pub async fn reconcile(&self) -> Result<(), QueueError> {
        let inner = &self.inner;
        let _one = inner.rebuilding.lock().await;
        inner.set_state(State::Rebuilding);
        let _gate = inner.gate.write().await;
        match rebuild(inner).await {
            Ok(tasks) => {
                tracing::info!(tasks, "queue index rebuilt from postgres");
                Ok(())
            }
            Err(error) => {
                inner.set_state(State::Down(format!("rebuilding the index failed: {error}")));
                Err(error)
            }
        }
    }

    /// Runs the reconciler in the background on the current tokio runtime: a first pass at
    /// once, then one every `interval`. A pass rebuilds the index when it is down and Redis
    /// answers a ping, or when it is in use but its sentinel is gone (Redis was flushed, or
    /// restarted empty). Abort the handle to stop it.
    #[must_use]
    pub fn spawn_reconciler(&self, interval: Duration) -> JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                store.reconcile_pass().await;
                tokio::time::sleep(interval).await;
            }
        })
    }

    /// One pass of the background reconciler.
    async fn reconcile_pass(&self) {
        let inner = &self.inner;
        let rebuild = match inner.state() {
            State::Rebuilding => false,
            State::Down(_) => inner.redis.ping().await.is_ok(),
            State::Indexed => match inner.redis.index_epoch().await {
                Ok(epoch) => epoch.is_none(),
                Err(error) => {
                    inner.degrade(format!("redis unreachable: {error}"));
                    false
                }
            },
        };
        if rebuild && let Err(error) = self.reconcile().await {
            tracing::warn!(%error, "rebuilding the queue index failed; will retry");
        }
    }
}

/// Rebuilds the index (the gate is held exclusively); returns how many tasks it holds.
async fn rebuild(inner: &Inner) -> Result<usize, QueueError> {
    inner.redis.clear().await?;
    let mut after = None;
    let mut tasks = 0;
    loop {
        let page = inner.pg.all_records(after).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.record.seq);
        tasks += page.len();
        let held: Vec<_> = page.into_iter().map(|m| (m.record, m.claim_keys)).collect();
        inner.redis.restore_with_claim_keys(&held).await?;
    }
    for (tenant, policy) in inner.pg.tenant_policies().await? {
        inner.redis.set_tenant_policy(&tenant, policy).await?;
    }
    for (key, limit) in inner.pg.limits().await? {
        inner.redis.set_limit(&key, Some(limit)).await?;
    }
    // No Postgres claim runs from here on: the fence Redis continues from is above all of
    // theirs, and claims started after the switch go through the index.
    let _claims = inner.pg_claims.write().await;
    let (next_seq, last_fence) = inner.pg.counters().await?;
    inner.redis.raise_counters(next_seq, last_fence).await?;
    inner
        .redis
        .write_index_epoch(&Uuid::now_v7().to_string())
        .await?;
    inner.set_state(State::Indexed);
    Ok(tasks)
}
