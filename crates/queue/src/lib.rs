//! `godel-queue`: the semantics of Godel's task queue, with no I/O and no async runtime.
//!
//! What it is: the rules every Godel queue store follows (strict four-level priority,
//! weighted-fair sharing between tenants, FIFO within a tenant, leases with fencing tokens,
//! retry with exponential backoff, dead letter with replay and purge, cancel, dependencies,
//! delayed tasks, idempotency keys, priority inheritance, optional aging, concurrency and rate
//! limits by key, exact load and depth accounting, listing and counting tasks by tenant,
//! status, priority, assignee and group), the [`QueueStore`] port that SQL and Redis
//! stores implement atomically, and [`MemoryQueueStore`], the reference implementation.
//!
//! What it is not: it knows nothing of other Godel crates, of databases, sockets or tokio.
//! Time comes from a [`Clock`], randomness (retry jitter) from a [`Jitter`] source, both
//! injected, so every behaviour is deterministic under test.
//!
//! With the `test-util` feature it also exports the conformance suite every store must pass
//! (`queue_conformance!`).
//!
//! # Example
//!
//! ```
//! use godel_queue::{
//!     AgentId, Eligibility, MemoryQueueStore, NewTask, Priority, QueueStore, TaskStatus, TenantId,
//! };
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! # block_on(async {
//! let store = MemoryQueueStore::new();
//! let acme = TenantId::parse("acme")?;
//!
//! store.enqueue(NewTask::new(acme.clone(), serde_json::json!({"prompt": "lint"}))).await?;
//! let urgent = NewTask::new(acme, serde_json::json!({"prompt": "fix prod"}))
//!     .with_priority(Priority::Critical);
//! let urgent_id = store.enqueue(urgent).await?.id;
//!
//! // The critical task comes first, under a lease with a fencing token.
//! let agent = AgentId::parse("agent-1")?;
//! let lease = store.claim(&agent, &Eligibility::any(), 1).await?.remove(0);
//! assert_eq!(lease.task.id, urgent_id);
//! assert_eq!(store.load(&agent).await?, 1);
//!
//! store.start(&lease.token).await?;
//! store.ack(&lease.token, None).await?;
//! assert_eq!(store.get(urgent_id).await?.status, TaskStatus::Completed);
//! assert_eq!(store.load(&agent).await?, 0);
//!
//! // A second ack with the same token is refused: a task never completes twice.
//! assert!(store.ack(&lease.token, None).await.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Retries, dead letters and time under test
//!
//! A [`ManualClock`] makes backoff and lease expiry deterministic:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use godel_queue::{
//!     AgentId, Eligibility, FailOutcome, Failure, ManualClock, MemoryQueueStore, NewTask,
//!     QueueConfig, QueueStore, TaskStatus, TenantId,
//! };
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! # block_on(async {
//! let clock = ManualClock::default();
//! let store = MemoryQueueStore::try_new(QueueConfig::default(), Arc::new(clock.clone()))?;
//! let id = store.enqueue(NewTask::new(TenantId::parse("acme")?, serde_json::json!({}))
//!     .with_max_attempts(2)).await?.id;
//! let agent = AgentId::parse("agent-1")?;
//!
//! let lease = store.claim(&agent, &Eligibility::any(), 1).await?.remove(0);
//! let outcome = store.fail(&lease.token, Failure::retryable("provider 503")).await?;
//! assert!(matches!(outcome, FailOutcome::Retrying { attempt_count: 1, .. }));
//! assert!(store.claim(&agent, &Eligibility::any(), 1).await?.is_empty()); // backing off (1 s)
//!
//! clock.advance(Duration::from_secs(1));
//! let lease = store.claim(&agent, &Eligibility::any(), 1).await?.remove(0);
//! assert_eq!(lease.attempt, 2);
//! clock.advance(Duration::from_secs(30)); // the holder crashed: its lease runs out
//! store.reap_expired().await?;
//! assert_eq!(store.get(id).await?.status, TaskStatus::DeadLetter); // 2 of 2 attempts used
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod clock;
mod config;
mod error;
mod ids;
mod lease;
mod memory;
mod priority;
mod retry;
mod serde_duration;
mod status;
mod store;
mod task;

#[cfg(feature = "test-util")]
pub mod conformance;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Limit, MAX_WEIGHT, QueueConfig, Rate, TenantPolicy};
pub use error::{ErrorKind, LeaseRefusal, ParseError, QueueError};
pub use ids::{AgentId, Capabilities, Capability, LimitKey, MAX_NAME_LEN, TaskId, TenantId};
pub use lease::{Eligibility, Heartbeat, Lease, LeaseToken};
pub use memory::{Counters, JournalBatch, MemoryQueueStore, Snapshot, StoredTask};
pub use priority::Priority;
pub use retry::{Jitter, NoJitter, RetryPolicy, SeededJitter};
pub use status::TaskStatus;
pub use store::{
    CancelOutcome, DeadLetterCursor, DeadLetterFilter, Depth, Enqueued, FailOutcome, QueueStats,
    QueueStore, Requeued, StatusCounts, TaskQuery,
};
pub use task::{Failure, MAX_IDEMPOTENCY_KEY_LEN, NewTask, Payload, TaskRecord};

/// The stride a tenant of weight 1 advances by per claim (weight `w`: `STRIDE / w`). Exposed
/// so other stores and the reference model implement the same fair order.
pub const FAIR_STRIDE: u64 = memory::STRIDE;
