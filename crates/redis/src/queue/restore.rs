//! Export and restore: rebuilding the Redis index from authoritative records (e.g. Postgres
//! after a flush).

use godel_queue::{LimitKey, QueueError, TaskRecord, TenantId};
use serde_json::{Value, json};

use super::record::{join, to_fields};
use super::reply::error_of;
use super::{RedisQueueStore, reads};
use crate::scripts;

/// A record to restore, with the claimant keys its lease counts under.
type Held<'a> = (&'a TaskRecord, &'a [LimitKey]);

impl RedisQueueStore {
    /// Every task the store holds, in enqueue order (`seq`), as `get` reports them.
    ///
    /// # Errors
    /// Only [`QueueError::Unavailable`].
    pub async fn export(&self) -> Result<Vec<TaskRecord>, QueueError> {
        reads::export(self).await
    }

    /// Writes `records` as they are (status, lease, fence, seq, attempts), replacing any task
    /// with the same id and rebuilding every index, agent load and limit count for them; raises
    /// the sequence and fence counters to at least the largest seen, so neither ever goes
    /// back. Restoring the same records again changes nothing. A leased task counts under its
    /// tenant's and its own limit keys (a claimant's keys are not part of a record).
    ///
    /// # Errors
    /// [`QueueError::AlreadyExists`] when a record's id belongs to another tenant;
    /// [`QueueError::Unavailable`].
    pub async fn restore(&self, records: &[TaskRecord]) -> Result<(), QueueError> {
        let held: Vec<Held<'_>> = records.iter().map(|r| (r, &[][..])).collect();
        self.restore_held(&held).await
    }

    /// As [`restore`](Self::restore), each record with the claimant keys its lease (if it is
    /// leased) also counts under, as a claim here would have counted them.
    ///
    /// # Errors
    /// As [`restore`](Self::restore).
    pub async fn restore_with_claim_keys(
        &self,
        records: &[(TaskRecord, Vec<LimitKey>)],
    ) -> Result<(), QueueError> {
        let held: Vec<Held<'_>> = records.iter().map(|(r, k)| (r, k.as_slice())).collect();
        self.restore_held(&held).await
    }

    async fn restore_held(&self, held: &[Held<'_>]) -> Result<(), QueueError> {
        let mut conn = self.core.conn().await?;
        let mut by_tenant: Vec<(TenantId, Vec<Held<'_>>)> = Vec::new();
        for &(record, claim_keys) in held {
            match by_tenant.iter_mut().find(|(t, _)| *t == record.tenant) {
                Some((_, list)) => list.push((record, claim_keys)),
                None => by_tenant.push((record.tenant.clone(), vec![(record, claim_keys)])),
            }
        }
        for (tenant, list) in &by_tenant {
            let ids: Vec<_> = list.iter().map(|(r, _)| (r.id, tenant)).collect();
            // Mapped before the script makes the tasks claimable; a restored task stays mapped
            // whatever happens next (its record is authoritative).
            let _mapped = self.map_tasks(&mut conn, &ids, 0).await?;
            let tasks: Vec<Value> = list
                .iter()
                .map(|(r, claim_keys)| {
                    let fields: Vec<String> =
                        to_fields(r).into_iter().flat_map(|(k, v)| [k, v]).collect();
                    let keys = lease_keys(tenant, r, claim_keys);
                    json!({"fields": fields, "lkeys": join(keys.iter().map(LimitKey::as_str))})
                })
                .collect();
            let reply = self
                .core
                .run(
                    &mut conn,
                    tenant,
                    &scripts::RESTORE,
                    json!({ "tasks": tasks }),
                    None,
                )
                .await?;
            if let Some(e) = list
                .first()
                .and_then(|(r, _)| error_of(&reply, r.id, tenant))
            {
                return Err(e);
            }
            for (record, claim_keys) in list.iter().filter(|(r, _)| r.status.is_leased()) {
                for key in lease_keys(tenant, record, claim_keys) {
                    self.core.limit(&mut conn, key.as_str(), "force", 1).await?;
                }
            }
        }
        let max_seq = held.iter().map(|(r, _)| r.seq + 1).max().unwrap_or(0);
        let max_fence = held
            .iter()
            .filter_map(|(r, _)| r.lease_fence)
            .max()
            .unwrap_or(0);
        self.raise_on(&mut conn, max_seq, max_fence).await
    }
}

/// The keys a lease of `record` counts under, as a claim counts them: the tenant's and the
/// task's own (sorted, once each), then the claimant's.
fn lease_keys(tenant: &TenantId, record: &TaskRecord, claim_keys: &[LimitKey]) -> Vec<LimitKey> {
    let mut keys = vec![LimitKey::tenant(tenant)];
    keys.extend(record.limit_keys.iter().cloned());
    keys.sort();
    keys.dedup();
    keys.extend(claim_keys.iter().cloned());
    keys
}
