//! Combining: concurrent callers of one operation hand their requests to one background task,
//! which takes every request waiting at that moment, serves them together in one transaction,
//! and answers each caller only after that transaction committed.
//!
//! Under load this turns N transactions (N commits, N times the statements) into one; with a
//! single caller it costs one channel hop. Up to `parallel` groups are in flight at once, so
//! the next group forms while earlier ones wait for their commits. A transaction failing with a retryable driver error
//! (serialization failure, deadlock) is run again whole; any other failure of the shared
//! transaction reaches every caller of the group as [`QueueError::Unavailable`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use godel_queue::QueueError;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::MAX_RETRIES;
use super::fault::Fault;

/// An operation whose concurrent requests are served together.
#[async_trait]
pub(crate) trait Serve: Send + Sync + 'static {
    /// One caller's request.
    type Request: Send + Sync + 'static;
    /// One caller's answer.
    type Response: Send + 'static;

    /// Serves `requests` in one transaction and commits it; one answer per request, in order.
    /// A request refused on its own merits gets its error without failing the others.
    async fn serve(
        &self,
        requests: &[Self::Request],
    ) -> Result<Vec<Result<Self::Response, QueueError>>, Fault>;
}

/// How much combining was achieved since the store started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Transactions committed (groups, including retried ones once).
    pub groups: u64,
    /// Requests (calls) answered from them.
    pub submissions: u64,
}

#[derive(Debug, Default)]
struct Tally {
    groups: AtomicU64,
    submissions: AtomicU64,
}

/// One call waiting for its group.
struct Call<S: Serve> {
    request: S::Request,
    reply: oneshot::Sender<Result<S::Response, QueueError>>,
}

/// The callers' side of a combined operation.
pub(crate) struct Combiner<S: Serve> {
    what: &'static str,
    sender: mpsc::UnboundedSender<Call<S>>,
    tally: Arc<Tally>,
}

impl<S: Serve> Combiner<S> {
    /// Starts serving on the current tokio runtime, at most `max` requests per transaction and
    /// `parallel` (at least one) transactions at once; `what` names the operation in errors
    /// ("the enqueue committer").
    pub(crate) fn spawn(
        what: &'static str,
        max: usize,
        parallel: usize,
        server: S,
    ) -> Result<Self, QueueError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            QueueError::unavailable("postgres: the queue store needs a tokio runtime", e)
        })?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let tally = Arc::new(Tally::default());
        let turns = Turns {
            max: max.max(1),
            parallel: Arc::new(Semaphore::new(parallel.max(1))),
        };
        runtime.spawn(run(Arc::new(server), turns, receiver, Arc::clone(&tally)));
        Ok(Self {
            what,
            sender,
            tally,
        })
    }

    /// Groups committed and requests answered so far.
    pub(crate) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            groups: self.tally.groups.load(Ordering::Relaxed),
            submissions: self.tally.submissions.load(Ordering::Relaxed),
        }
    }

    /// Serves `request` in the next group; answers after the group committed.
    pub(crate) async fn call(&self, request: S::Request) -> Result<S::Response, QueueError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || QueueError::Unavailable {
            message: format!("postgres: {} stopped", self.what),
            source: None,
        };
        self.sender
            .send(Call { request, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// How groups are formed: at most `max` requests each, at most `parallel` in flight.
struct Turns {
    max: usize,
    parallel: Arc<Semaphore>,
}

/// The serving loop: a group per turn, until every caller's side is gone.
async fn run<S: Serve>(
    server: Arc<S>,
    turns: Turns,
    mut receiver: mpsc::UnboundedReceiver<Call<S>>,
    tally: Arc<Tally>,
) {
    loop {
        // Wait for a free slot first: requests arriving meanwhile join the next group.
        let Ok(permit) = Arc::clone(&turns.parallel).acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < turns.max {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let server = Arc::clone(&server);
        let tally = Arc::clone(&tally);
        tokio::spawn(async move {
            serve_group(&*server, group, &tally).await;
            drop(permit);
        });
    }
}

/// Serves one group, retrying it whole on a retryable fault, and answers every caller.
async fn serve_group<S: Serve>(server: &S, group: Vec<Call<S>>, tally: &Tally) {
    let (requests, replies): (Vec<_>, Vec<_>) =
        group.into_iter().map(|c| (c.request, c.reply)).unzip();
    let mut attempt = 0;
    let outcome = loop {
        match server.serve(&requests).await {
            Err(fault) if fault.is_retryable() && attempt < MAX_RETRIES => attempt += 1,
            other => break other,
        }
    };
    match outcome {
        Ok(answers) => {
            tally.groups.fetch_add(1, Ordering::Relaxed);
            let size = u64::try_from(replies.len()).unwrap_or(u64::MAX);
            tally.submissions.fetch_add(size, Ordering::Relaxed);
            // A caller that went away no longer wants its answer; a missing answer reaches
            // its caller as "stopped".
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
        }
        Err(fault) => {
            let message = fault.into_queue().to_string();
            for reply in replies {
                let _ = reply.send(Err(QueueError::Unavailable {
                    message: message.clone(),
                    source: None,
                }));
            }
        }
    }
}
