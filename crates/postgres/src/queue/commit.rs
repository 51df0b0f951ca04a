//! Group commit for enqueues: callers hand their batch to one background committer, which takes
//! every submission waiting, runs them in ONE transaction, commits, and only then answers each
//! caller.
//!
//! The group is first tried as one merged batch (one set of statements for all its tasks, as if
//! the submissions ran one after another); only if that is refused (some submission is invalid,
//! a duplicate, over a bound) is it run again one submission per savepoint, so a refused
//! submission does not fail the others and each caller gets exactly its own answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use godel_queue::{Clock, Enqueued, NewTask, QueueConfig, QueueError};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::counters::Counters;
use super::enqueue::enqueue_batch;
use super::fault::{DbContext, Fault};
use super::{MAX_RETRIES, STATS_SHARD_COMMITTER};

/// Most submissions one transaction takes.
const MAX_GROUP: usize = 512;

/// One caller's batch and where its answer goes.
pub(crate) struct Submission {
    tasks: Vec<NewTask>,
    now: OffsetDateTime,
    reply: oneshot::Sender<Result<Vec<Enqueued>, QueueError>>,
}

/// How much grouping the committer achieved since the store started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Transactions committed (groups, including retried ones once).
    pub groups: u64,
    /// Submissions (enqueue calls) answered from them.
    pub submissions: u64,
}

#[derive(Debug, Default)]
struct Tally {
    groups: AtomicU64,
    submissions: AtomicU64,
}

/// The callers' side of the committer.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    sender: mpsc::UnboundedSender<Submission>,
    tally: Arc<Tally>,
}

impl Committer {
    /// Starts the committer on the current tokio runtime.
    pub(crate) fn spawn(pool: PgPool, config: QueueConfig) -> Result<Self, QueueError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            QueueError::unavailable("postgres: the queue store needs a tokio runtime", e)
        })?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let tally = Arc::new(Tally::default());
        runtime.spawn(run(pool, config, receiver, Arc::clone(&tally)));
        Ok(Self { sender, tally })
    }

    /// Groups committed and submissions answered so far.
    pub(crate) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            groups: self.tally.groups.load(Ordering::Relaxed),
            submissions: self.tally.submissions.load(Ordering::Relaxed),
        }
    }

    /// Enqueues `tasks` in the next group; answers after the group committed.
    pub(crate) async fn submit(
        &self,
        tasks: Vec<NewTask>,
        clock: &Arc<dyn Clock>,
    ) -> Result<Vec<Enqueued>, QueueError> {
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            tasks,
            now: clock.now(),
            reply,
        };
        let stopped = || QueueError::Unavailable {
            message: "postgres: the enqueue committer stopped".to_owned(),
            source: None,
        };
        self.sender.send(submission).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The committer loop: one group per turn, until every sender is gone.
async fn run(
    pool: PgPool,
    config: QueueConfig,
    mut receiver: mpsc::UnboundedReceiver<Submission>,
    tally: Arc<Tally>,
) {
    while let Some(first) = receiver.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let size = u64::try_from(group.len()).unwrap_or(u64::MAX);
        if commit_group(&pool, &config, group).await {
            tally.groups.fetch_add(1, Ordering::Relaxed);
            tally.submissions.fetch_add(size, Ordering::Relaxed);
        }
    }
}

/// Runs a group in one transaction, retrying it whole on a serialization failure, and answers
/// every caller; returns whether it committed.
async fn commit_group(pool: &PgPool, config: &QueueConfig, group: Vec<Submission>) -> bool {
    let mut attempt = 0;
    let outcome = loop {
        match try_group(pool, config, &group).await {
            Err(fault) if fault.is_retryable() && attempt < MAX_RETRIES => attempt += 1,
            other => break other,
        }
    };
    match outcome {
        Ok(results) => {
            for (submission, result) in group.into_iter().zip(results) {
                // A caller that went away no longer wants its answer.
                let _ = submission.reply.send(result);
            }
            true
        }
        Err(fault) => {
            let message = fault.into_queue().to_string();
            for submission in group {
                let _ = submission.reply.send(Err(QueueError::Unavailable {
                    message: message.clone(),
                    source: None,
                }));
            }
            false
        }
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
