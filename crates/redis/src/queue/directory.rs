//! The task directory: the fleet-wide `where` hash mapping each task id to its tenant, which
//! every call naming a task by id (`get`, `cancel`, a lease token) reads to find the task's
//! hash tag.
//!
//! An id is mapped *before* the script that makes its task visible runs, so a worker that
//! claims the task at once can always find it again; ids whose task was then not written (a
//! refused batch, an idempotent duplicate answered with another id) are unmapped afterwards.

use super::shared::Connection;
use godel_queue::{QueueError, TaskId, TenantId};
use redis::AsyncCommands;

use super::RedisQueueStore;
use crate::error::Context;

/// Ids this call mapped, to unmap if their tasks are not written after all.
#[derive(Debug, Default)]
#[must_use = "ids mapped for tasks that were not written must be unmapped"]
pub(super) struct Mapped {
    ids: Vec<String>,
}

impl RedisQueueStore {
    /// Maps every `(id, tenant)` not yet in the directory, in one round trip, and also reserves
    /// `seq` sequence numbers and registers the tenants. Returns the ids it mapped and the last
    /// reserved sequence number.
    ///
    /// # Errors
    /// [`QueueError::AlreadyExists`] when an id already belongs to another tenant (nothing stays
    /// mapped); [`QueueError::Unavailable`].
    pub(super) async fn map_tasks(
        &self,
        conn: &mut Connection,
        tasks: &[(TaskId, &TenantId)],
        seq: u64,
    ) -> Result<(Mapped, u64), QueueError> {
        let where_key = self.core.keys.fleet_key("where");
        let mut tenants: Vec<&str> = tasks.iter().map(|(_, t)| t.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let mut pipe = redis::pipe();
        for (id, tenant) in tasks {
            pipe.hset_nx(&where_key, id.to_string(), tenant.as_str());
        }
        pipe.cmd("HMGET").arg(&where_key);
        for (id, _) in tasks {
            pipe.arg(id.to_string());
        }
        pipe.sadd(self.core.keys.fleet_key("tenants"), &tenants)
            .ignore();
        pipe.incr(self.core.keys.fleet_key("seq"), seq);
        let mut reply: Vec<redis::Value> = pipe.query_async(conn).await.context("map tasks")?;
        let last: u64 = redis::from_redis_value(reply.pop().unwrap_or(redis::Value::Nil))
            .context("decode seq")?;
        let owners: Vec<Option<String>> =
            redis::from_redis_value(reply.pop().unwrap_or(redis::Value::Nil))
                .context("decode owners")?;
        let mut mapped = Mapped::default();
        for ((id, _), set) in tasks.iter().zip(&reply) {
            if redis::from_redis_value::<bool>(set.clone()).context("decode map")? {
                mapped.ids.push(id.to_string());
            }
        }
        let foreign = tasks
            .iter()
            .zip(&owners)
            .find(|((_, tenant), owner)| owner.as_deref() != Some(tenant.as_str()));
        if let Some(((id, _), _)) = foreign {
            self.unmap(conn, mapped).await?;
            return Err(QueueError::AlreadyExists(*id));
        }
        Ok((mapped, last))
    }

    /// Removes from the directory the mapped ids `keep` rejects (their tasks were not written).
    pub(super) async fn unmap_unless(
        &self,
        conn: &mut Connection,
        mapped: Mapped,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), QueueError> {
        let ids = mapped.ids.into_iter().filter(|id| !keep(id)).collect();
        self.unmap(conn, Mapped { ids }).await
    }

    /// Removes every id of `mapped` from the directory.
    pub(super) async fn unmap(
        &self,
        conn: &mut Connection,
        mapped: Mapped,
    ) -> Result<(), QueueError> {
        if mapped.ids.is_empty() {
            return Ok(());
        }
        let _: i64 = conn
            .hdel(self.core.keys.fleet_key("where"), &mapped.ids)
            .await
            .context("unmap tasks")?;
        Ok(())
    }
}
