//! `QueueStats` counters: accumulated by an operation, written with its transaction into one of
//! the sharded rows of `queue_stats`, summed on read.

use godel_queue::QueueStats;
use sqlx::{PgConnection, Row};

use super::fault::{DbContext, Fault};
use super::rows::unsigned;

/// How many rows `queue_stats` holds (the migration seeds shards `0..SHARDS`).
pub(crate) const SHARDS: u32 = 64;

/// What one transaction adds to the counters.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    /// Tasks created (not deduplicated).
    pub(crate) enqueued: i64,
    /// Leases handed out.
    pub(crate) claimed: i64,
    /// Tasks completed.
    pub(crate) completed: i64,
    /// Failed attempts (failures, expiries, failovers).
    pub(crate) failed_attempts: i64,
    /// Tasks dead-lettered.
    pub(crate) dead_lettered: i64,
    /// Claims that skipped work for a limit.
    pub(crate) throttled: i64,
}

impl Counters {
    fn is_zero(&self) -> bool {
        self.enqueued == 0
            && self.claimed == 0
            && self.completed == 0
            && self.failed_attempts == 0
            && self.dead_lettered == 0
            && self.throttled == 0
    }

    /// Adds these counts to shard `shard` (no write when all are zero).
    pub(crate) async fn flush(&self, conn: &mut PgConnection, shard: u32) -> Result<(), Fault> {
        if self.is_zero() {
            return Ok(());
        }
        // The first shard from `shard` on that no other transaction holds; if all are held,
        // wait for `shard` itself.
        let done = self
            .add(
                conn,
                "shard = (SELECT shard FROM queue_stats ORDER BY (shard - $1 + 64) % 64 \
                 LIMIT 1 FOR UPDATE SKIP LOCKED)",
                shard,
            )
            .await?;
        if done == 0 {
            self.add(conn, "shard = $1", shard).await?;
        }
        Ok(())
    }
}

impl Counters {
    async fn add(
        &self,
        conn: &mut PgConnection,
        which: &'static str,
        shard: u32,
    ) -> Result<u64, Fault> {
        let sql = format!(
            "UPDATE queue_stats SET enqueued = enqueued + $2, claimed = claimed + $3, \
             completed = completed + $4, failed_attempts = failed_attempts + $5, \
             dead_lettered = dead_lettered + $6, throttled = throttled + $7 WHERE {which}"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i16::try_from(shard % SHARDS).unwrap_or(0))
            .bind(self.enqueued)
            .bind(self.claimed)
            .bind(self.completed)
            .bind(self.failed_attempts)
            .bind(self.dead_lettered)
            .bind(self.throttled)
            .execute(conn)
            .await
            .db("count queue stats")?;
        Ok(done.rows_affected())
    }
}

/// The counters summed over every shard.
pub(crate) async fn read(conn: &mut PgConnection) -> Result<QueueStats, Fault> {
    let row = sqlx::query(
        "SELECT COALESCE(sum(enqueued), 0)::BIGINT AS enqueued, \
         COALESCE(sum(claimed), 0)::BIGINT AS claimed, \
         COALESCE(sum(completed), 0)::BIGINT AS completed, \
         COALESCE(sum(failed_attempts), 0)::BIGINT AS failed_attempts, \
         COALESCE(sum(dead_lettered), 0)::BIGINT AS dead_lettered, \
         COALESCE(sum(throttled), 0)::BIGINT AS throttled FROM queue_stats",
    )
    .fetch_one(conn)
    .await
    .db("read queue stats")?;
    let get = |name: &str| row.try_get::<i64, _>(name).map(unsigned);
    let what = "read queue stats";
    Ok(QueueStats {
        enqueued: get("enqueued").db(what)?,
        claimed: get("claimed").db(what)?,
        completed: get("completed").db(what)?,
        failed_attempts: get("failed_attempts").db(what)?,
        dead_lettered: get("dead_lettered").db(what)?,
        throttled: get("throttled").db(what)?,
    })
}
