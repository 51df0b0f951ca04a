//! Combining: concurrent callers of one store operation hand their requests to one background
//! task, which takes every request waiting at that moment, serves them together (one
//! transaction, one script call...), and answers each caller only after that succeeded.
//!
//! Under load this turns N round trips (N commits, N times the statements) into one; with a
//! single caller it costs one channel hop. Up to `parallel` groups are in flight at once, so
//! the next group forms while earlier ones wait. A group failing with a retryable fault
//! (a serialization failure, a deadlock) is served again whole, up to `retries` times; any
//! other failure of the shared work reaches every caller of the group as
//! [`QueueError::Unavailable`]. Adapters (the Postgres and Redis queue stores) build on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use godel_queue::QueueError;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Why a whole group failed.
pub trait GroupFault: Send + 'static {
    /// Whether serving the whole group again may succeed.
    fn is_retryable(&self) -> bool;
    /// The error every caller of the group receives.
    fn into_queue(self) -> QueueError;
}

impl GroupFault for QueueError {
    fn is_retryable(&self) -> bool {
        false
    }

    fn into_queue(self) -> QueueError {
        self
    }
}

/// An operation whose concurrent requests are served together.
#[async_trait]
pub trait Serve: Send + Sync + 'static {
    /// One caller's request.
    type Request: Send + Sync + 'static;
    /// One caller's answer.
    type Response: Send + 'static;
    /// A failure of the whole group.
    type Fault: GroupFault;

    /// Serves `requests` together; one answer per request, in order. A request refused on its
    /// own merits gets its error without failing the others.
    async fn serve(
        &self,
        requests: &[Self::Request],
    ) -> Result<Vec<Result<Self::Response, QueueError>>, Self::Fault>;
}

/// How groups are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping {
    /// At most this many requests per group (at least one).
    pub max: usize,
    /// At most this many groups in flight at once (at least one).
    pub parallel: usize,
    /// How often a group is served again after a retryable fault.
    pub retries: u32,
}

/// How much combining was achieved since the combiner started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Groups served (a retried group counts once).
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
pub struct Combiner<S: Serve> {
    what: &'static str,
    sender: mpsc::UnboundedSender<Call<S>>,
    tally: Arc<Tally>,
}

impl<S: Serve> std::fmt::Debug for Combiner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Combiner")
            .field("what", &self.what)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<S: Serve> Combiner<S> {
    /// Starts serving on the current tokio runtime; `what` names the operation in errors
    /// ("postgres: the enqueue committer").
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when called outside a tokio runtime.
    pub fn spawn(what: &'static str, grouping: Grouping, server: S) -> Result<Self, QueueError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| QueueError::unavailable(format!("{what} needs a tokio runtime"), e))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let tally = Arc::new(Tally::default());
        let grouping = Grouping {
            max: grouping.max.max(1),
            parallel: grouping.parallel.max(1),
            retries: grouping.retries,
        };
        runtime.spawn(run(
            Arc::new(server),
            grouping,
            receiver,
            Arc::clone(&tally),
        ));
        Ok(Self {
            what,
            sender,
            tally,
        })
    }

    /// Groups served and requests answered so far.
    #[must_use]
    pub fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            groups: self.tally.groups.load(Ordering::Relaxed),
            submissions: self.tally.submissions.load(Ordering::Relaxed),
        }
    }

    /// Serves `request` in the next group; answers once the group was served.
    ///
    /// # Errors
    /// The request's own refusal, the group's fault, or [`QueueError::Unavailable`] when the
    /// serving task stopped.
    pub async fn call(&self, request: S::Request) -> Result<S::Response, QueueError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || QueueError::Unavailable {
            message: format!("{} stopped", self.what),
            source: None,
        };
        self.sender
            .send(Call { request, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// A combiner started by its first use, on that caller's tokio runtime: for stores that may be
/// built outside a runtime.
pub struct LazyCombiner<S: Serve> {
    what: &'static str,
    grouping: Grouping,
    cell: OnceLock<Combiner<S>>,
}

impl<S: Serve> std::fmt::Debug for LazyCombiner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyCombiner")
            .field("what", &self.what)
            .field("started", &self.cell.get().is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Serve> LazyCombiner<S> {
    /// A combiner for `what`, grouping as `grouping`, not started yet.
    #[must_use]
    pub fn new(what: &'static str, grouping: Grouping) -> Self {
        Self {
            what,
            grouping,
            cell: OnceLock::new(),
        }
    }

    /// The combiner, started with the server `server` makes if this is the first use.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when it must start outside a tokio runtime.
    pub fn get_or_spawn(&self, server: impl FnOnce() -> S) -> Result<&Combiner<S>, QueueError> {
        if let Some(combiner) = self.cell.get() {
            return Ok(combiner);
        }
        let started = Combiner::spawn(self.what, self.grouping, server())?;
        // A racing first use may have won: its combiner serves, this one stops when dropped.
        let _ = self.cell.set(started);
        self.cell
            .get()
            .ok_or_else(|| QueueError::unavailable(self.what, "the combiner did not start"))
    }

    /// Groups served and requests answered so far (zero before the first use).
    #[must_use]
    pub fn stats(&self) -> GroupCommitStats {
        self.cell.get().map(Combiner::stats).unwrap_or_default()
    }
}

/// The serving loop: a group per turn, until every caller's side is gone.
async fn run<S: Serve>(
    server: Arc<S>,
    grouping: Grouping,
    mut receiver: mpsc::UnboundedReceiver<Call<S>>,
    tally: Arc<Tally>,
) {
    let parallel = Arc::new(Semaphore::new(grouping.parallel));
    loop {
        // Wait for a free slot first: requests arriving meanwhile join the next group.
        let Ok(permit) = Arc::clone(&parallel).acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < grouping.max {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let server = Arc::clone(&server);
        let tally = Arc::clone(&tally);
        tokio::spawn(async move {
            serve_group(&*server, group, grouping.retries, &tally).await;
            drop(permit);
        });
    }
}

/// Serves one group, retrying it whole on a retryable fault, and answers every caller.
async fn serve_group<S: Serve>(server: &S, group: Vec<Call<S>>, retries: u32, tally: &Tally) {
    let (requests, replies): (Vec<_>, Vec<_>) =
        group.into_iter().map(|c| (c.request, c.reply)).unzip();
    let mut attempt = 0;
    let outcome = loop {
        match server.serve(&requests).await {
            Err(fault) if fault.is_retryable() && attempt < retries => attempt += 1,
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Doubles numbers, refuses odd ones, records the groups it saw; fails retryably while
    /// `flaky` is above zero.
    #[derive(Default)]
    struct Doubler {
        groups: Mutex<Vec<Vec<u32>>>,
        flaky: Mutex<u32>,
    }

    struct Flaky(bool);

    impl GroupFault for Flaky {
        fn is_retryable(&self) -> bool {
            self.0
        }
        fn into_queue(self) -> QueueError {
            QueueError::Unavailable {
                message: "flaky".into(),
                source: None,
            }
        }
    }

    #[async_trait]
    impl Serve for Doubler {
        type Request = u32;
        type Response = u32;
        type Fault = Flaky;

        async fn serve(&self, requests: &[u32]) -> Result<Vec<Result<u32, QueueError>>, Flaky> {
            self.groups.lock().unwrap().push(requests.to_vec());
            let mut flaky = self.flaky.lock().unwrap();
            if *flaky > 0 {
                *flaky -= 1;
                return Err(Flaky(true));
            }
            Ok(requests
                .iter()
                .map(|n| {
                    if n % 2 == 0 {
                        Ok(n * 2)
                    } else {
                        Err(QueueError::Invalid {
                            field: "n",
                            reason: "odd".into(),
                        })
                    }
                })
                .collect())
        }
    }

    fn grouping(max: usize, retries: u32) -> Grouping {
        Grouping {
            max,
            parallel: 1,
            retries,
        }
    }

    #[tokio::test]
    async fn each_caller_gets_its_own_answer_and_concurrent_calls_share_groups() {
        let combiner =
            Arc::new(Combiner::spawn("doubler", grouping(8, 0), Doubler::default()).unwrap());
        let calls = (0..40u32).map(|n| {
            let combiner = Arc::clone(&combiner);
            tokio::spawn(async move { (n, combiner.call(n).await) })
        });
        for call in calls {
            let (n, answer) = call.await.unwrap();
            if n % 2 == 0 {
                assert_eq!(answer.unwrap(), n * 2);
            } else {
                assert!(matches!(
                    answer,
                    Err(QueueError::Invalid { field: "n", .. })
                ));
            }
        }
        let stats = combiner.stats();
        assert_eq!(stats.submissions, 40);
        assert!(
            stats.groups >= 5,
            "groups are capped at 8 requests: {stats:?}"
        );
    }

    #[tokio::test]
    async fn a_retryable_fault_serves_the_group_again_up_to_the_limit() {
        let doubler = Doubler::default();
        *doubler.flaky.lock().unwrap() = 2;
        let combiner = Combiner::spawn("doubler", grouping(8, 2), doubler).unwrap();
        assert_eq!(combiner.call(4).await.unwrap(), 8);

        let doubler = Doubler::default();
        *doubler.flaky.lock().unwrap() = 3;
        let combiner = Combiner::spawn("doubler", grouping(8, 2), doubler).unwrap();
        let err = combiner.call(4).await.unwrap_err();
        assert!(
            matches!(err, QueueError::Unavailable { ref message, .. } if message.contains("flaky"))
        );
        assert_eq!(
            combiner.stats().groups,
            0,
            "a failed group is not counted as served"
        );
    }

    #[tokio::test]
    async fn a_lazy_combiner_starts_once_on_first_use() {
        let lazy = LazyCombiner::new("doubler", grouping(8, 0));
        assert_eq!(lazy.stats(), GroupCommitStats::default());
        let first = lazy.get_or_spawn(Doubler::default).unwrap();
        assert_eq!(first.call(2).await.unwrap(), 4);
        let again = lazy
            .get_or_spawn(|| unreachable!("already started"))
            .unwrap();
        assert!(std::ptr::eq(first, again));
        assert_eq!(lazy.stats().submissions, 1);
    }

    #[test]
    fn a_lazy_combiner_outside_a_runtime_is_unavailable() {
        let lazy = LazyCombiner::new("doubler", grouping(8, 0));
        let err = lazy.get_or_spawn(Doubler::default).unwrap_err();
        assert!(matches!(err, QueueError::Unavailable { .. }), "{err}");
    }
}
