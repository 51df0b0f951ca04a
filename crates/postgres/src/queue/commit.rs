//! Group commit for enqueues: callers hand their batch to one background committer, which takes
//! every submission waiting, runs them in ONE transaction, commits, and only then answers each
//! caller.
//!
//! The group is first tried as one merged batch (one set of statements for all its tasks, as if
//! the submissions ran one after another); only if that is refused (some submission is invalid,
//! a duplicate, over a bound) is it run again one submission per savepoint, so a refused
//! submission does not fail the others and each caller gets exactly its own answer.

use async_trait::async_trait;
use godel_queue::{Enqueued, NewTask, QueueConfig, QueueError};
use sqlx::PgPool;
use time::OffsetDateTime;

use super::STATS_SHARD_COMMITTER;
use super::counters::Counters;
use super::enqueue::enqueue_batch;
use super::fault::{DbContext, Fault, GroupFault};
use godel_engine::combine::{Combiner, Serve};

/// Most submissions one transaction takes.
pub(crate) const MAX_GROUP: usize = 512;

/// One caller's batch, with the clock reading taken before it was sent.
pub(crate) struct Submission {
    pub(crate) tasks: Vec<NewTask>,
    pub(crate) now: OffsetDateTime,
}

/// Enqueues, served a group per transaction.
pub(crate) struct Enqueues {
    pub(crate) pool: PgPool,
    pub(crate) config: QueueConfig,
}

/// The callers' side of the committer.
pub(crate) type Committer = Combiner<Enqueues>;

#[async_trait]
impl Serve for Enqueues {
    type Request = Submission;
    type Response = Vec<Enqueued>;
    type Fault = Fault;

    async fn serve(
        &self,
        group: &[Submission],
    ) -> Result<Vec<Result<Vec<Enqueued>, QueueError>>, Fault> {
        try_group(&self.pool, &self.config, group).await
    }
}

/// One transaction over the group: merged if every submission is accepted, else each
/// submission under a savepoint.
async fn try_group(
    pool: &PgPool,
    config: &QueueConfig,
    group: &[Submission],
) -> Result<Vec<Result<Vec<Enqueued>, QueueError>>, Fault> {
    let mut tx = pool.begin().await.db("begin an enqueue group")?;
    if group.len() > 1
        && let Some(results) = try_merged(&mut tx, config, group).await?
    {
        tx.commit().await.db("commit an enqueue group")?;
        return Ok(results);
    }
    let mut results = Vec::with_capacity(group.len());
    for submission in group {
        sqlx::query("SAVEPOINT submission")
            .execute(&mut *tx)
            .await
            .db("open a savepoint")?;
        let mut counters = Counters::default();
        let result = enqueue_batch(
            &mut tx,
            submission.tasks.clone(),
            config,
            submission.now,
            &mut counters,
        )
        .await;
        let result = match result {
            Ok(done) => match counters.flush(&mut tx, STATS_SHARD_COMMITTER).await {
                Ok(()) => Ok(done),
                Err(fault) => Err(fault),
            },
            Err(fault) => Err(fault),
        };
        match result {
            Ok(done) => {
                sqlx::query("RELEASE SAVEPOINT submission")
                    .execute(&mut *tx)
                    .await
                    .db("release a savepoint")?;
                results.push(Ok(done));
            }
            // A retryable driver failure aborts the whole group, which is run again.
            Err(fault) if fault.is_retryable() => return Err(fault),
            Err(fault) => {
                sqlx::query("ROLLBACK TO SAVEPOINT submission")
                    .execute(&mut *tx)
                    .await
                    .db("roll back a savepoint")?;
                results.push(Err(fault.into_queue()));
            }
        }
    }
    tx.commit().await.db("commit an enqueue group")?;
    Ok(results)
}

/// Runs the whole group as one batch under a savepoint; `None` (rolled back) when any part of
/// it is refused, so the caller runs the submissions one by one to tell whose it was.
async fn try_merged(
    tx: &mut sqlx::PgConnection,
    config: &QueueConfig,
    group: &[Submission],
) -> Result<Option<Vec<Result<Vec<Enqueued>, QueueError>>>, Fault> {
    sqlx::query("SAVEPOINT merged")
        .execute(&mut *tx)
        .await
        .db("open a savepoint")?;
    let tasks: Vec<NewTask> = group.iter().flat_map(|s| s.tasks.iter().cloned()).collect();
    // The group's clock reading: the latest of its submissions (each was taken before sending).
    let now = group.iter().map(|s| s.now).max().unwrap_or(group[0].now);
    let mut counters = Counters::default();
    let merged = match enqueue_batch(&mut *tx, tasks, config, now, &mut counters).await {
        Ok(done) => counters
            .flush(&mut *tx, STATS_SHARD_COMMITTER)
            .await
            .map(|()| done),
        Err(fault) => Err(fault),
    };
    match merged {
        Ok(done) => {
            sqlx::query("RELEASE SAVEPOINT merged")
                .execute(&mut *tx)
                .await
                .db("release a savepoint")?;
            let mut answers = done.into_iter();
            Ok(Some(
                group
                    .iter()
                    .map(|s| Ok(answers.by_ref().take(s.tasks.len()).collect()))
                    .collect(),
            ))
        }
        Err(fault) if fault.is_retryable() => Err(fault),
        Err(_) => {
            sqlx::query("ROLLBACK TO SAVEPOINT merged")
                .execute(&mut *tx)
                .await
                .db("roll back a savepoint")?;
            Ok(None)
        }
    }
}
