//! What every conformance case starts from: a fresh store, its clock, and short helpers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::json;

use super::StoreFactory;
use crate::clock::ManualClock;
use crate::config::QueueConfig;
use crate::ids::{AgentId, Capabilities, TaskId, TenantId};
use crate::lease::{Eligibility, Lease};
use crate::priority::Priority;
use crate::status::TaskStatus;
use crate::store::{QueueStore, TaskQuery};
use crate::task::{NewTask, TaskRecord};

/// A fresh store under test and the clock it reads.
#[derive(Debug)]
pub struct Harness<S> {
    /// The store.
    pub store: S,
    /// Its clock; cases move it by hand.
    pub clock: ManualClock,
}

impl<S: QueueStore> Harness<S> {
    /// A store with the default configuration.
    pub async fn new<F: StoreFactory<Store = S>>(factory: &F) -> Self {
        Self::with_config(factory, QueueConfig::default()).await
    }

    /// A store with `config`.
    pub async fn with_config<F: StoreFactory<Store = S>>(factory: &F, config: QueueConfig) -> Self {
        let clock = ManualClock::default();
        let store = factory.create(config, clock.clone()).await;
        Self { store, clock }
    }

    /// The clock's time.
    pub fn now(&self) -> time::OffsetDateTime {
        crate::clock::Clock::now(&self.clock)
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Enqueues `task`, expecting success; returns its id.
    pub async fn put(&self, task: NewTask) -> TaskId {
        self.store.enqueue(task).await.expect("enqueue").id
    }

    /// Enqueues a plain task for `tenant` at `priority`; returns its id.
    pub async fn put_at(&self, tenant: &str, priority: Priority) -> TaskId {
        self.put(task(tenant).with_priority(priority)).await
    }

    /// Claims up to `max` tasks for `agent` with no capabilities.
    pub async fn claim(&self, agent: &str, max: usize) -> Vec<Lease> {
        self.claim_with(agent, &Eligibility::any(), max).await
    }

    /// Claims up to `max` tasks for `agent` with `eligibility`.
    pub async fn claim_with(
        &self,
        agent: &str,
        eligibility: &Eligibility,
        max: usize,
    ) -> Vec<Lease> {
        self.store
            .claim(&agent_id(agent), eligibility, max)
            .await
            .expect("claim")
    }

    /// Claims exactly one task, failing the case if none is due.
    pub async fn claim_one(&self, agent: &str) -> Lease {
        self.claim(agent, 1).await.pop().expect("a task to claim")
    }

    /// The ids of up to `max` tasks claimed one claim at a time, in claim order.
    pub async fn claim_ids(&self, agent: &str, max: usize) -> Vec<TaskId> {
        let mut ids = Vec::new();
        for _ in 0..max {
            match self.claim(agent, 1).await.pop() {
                Some(lease) => ids.push(lease.task.id),
                None => break,
            }
        }
        ids
    }

    /// The task's status.
    pub async fn status(&self, id: TaskId) -> TaskStatus {
        self.store.get(id).await.expect("get").status
    }

    /// The agent's load.
    pub async fn load(&self, agent: &str) -> u32 {
        self.store.load(&agent_id(agent)).await.expect("load")
    }

    /// Every task matching `query`, paged through `page` at a time (`page` > 0), checking on the
    /// way that each page holds at most `page` tasks, that `seq` moves in the query's order
    /// without repeats, and that only a short page ends the pass.
    pub async fn list_all(&self, query: &TaskQuery, page: usize) -> Vec<TaskRecord> {
        assert!(page > 0, "a page holds at least one task");
        let mut all: Vec<TaskRecord> = Vec::new();
        let mut after: Option<u64> = None;
        for _ in 0..10_000 {
            let records = self.store.list(query, after, page).await.expect("list");
            assert!(records.len() <= page, "a page holds at most `limit` tasks");
            for record in &records {
                if let Some(prev) = after {
                    let in_order = if query.newest_first {
                        record.seq < prev
                    } else {
                        record.seq > prev
                    };
                    assert!(
                        in_order,
                        "seq {} after {prev} (newest_first: {})",
                        record.seq, query.newest_first
                    );
                }
                after = Some(record.seq);
            }
            let short = records.len() < page;
            all.extend(records);
            if short {
                return all;
            }
        }
        panic!("list never returned a short page")
    }

    /// The ids of every task matching `query`, paged `page` at a time (see [`Self::list_all`]).
    pub async fn list_ids(&self, query: &TaskQuery, page: usize) -> Vec<TaskId> {
        self.list_all(query, page)
            .await
            .into_iter()
            .map(|r| r.id)
            .collect()
    }
}

/// A tenant id from a literal.
#[must_use]
pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant")
}

/// An agent id from a literal.
#[must_use]
pub fn agent_id(name: &str) -> AgentId {
    AgentId::parse(name).expect("valid agent")
}

/// A capability set from literals.
#[must_use]
pub fn caps(names: &[&str]) -> Capabilities {
    Capabilities::parse(names.iter().copied()).expect("valid capabilities")
}

/// A plain task for `tenant_name` with a small JSON payload.
#[must_use]
pub fn task(tenant_name: &str) -> NewTask {
    NewTask::new(tenant(tenant_name), json!({"prompt": "work"}))
}

/// Runs futures concurrently on the current task and returns their outputs in order. Stores
/// that do I/O interleave at every await, so their operations really overlap.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    JoinAll {
        slots: futures
            .into_iter()
            .map(|f| Slot::Running(Box::pin(f)))
            .collect(),
    }
    .await
}

enum Slot<F: Future> {
    Running(Pin<Box<F>>),
    Done(Option<F::Output>),
}

struct JoinAll<F: Future> {
    slots: Vec<Slot<F>>,
}

impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut pending = false;
        for slot in &mut self.slots {
            if let Slot::Running(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(out) => *slot = Slot::Done(Some(out)),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        let outputs = self
            .slots
            .iter_mut()
            .map(|slot| match slot {
                Slot::Done(out) => out.take().expect("each output is taken once"),
                Slot::Running(_) => unreachable!("no future is still running"),
            })
            .collect();
        Poll::Ready(outputs)
    }
}
