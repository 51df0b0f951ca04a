//! Criterion benches of `godel-queue` through the `QueueStore` port, on `MemoryQueueStore`.
//!
//! - `task_id/generate`: one uuid v7, what `NewTask::new` spends on the id;
//! - `enqueue/new_task`: one task per iteration built with `NewTask::new` (fresh uuid v7,
//!   default priority, a prebuilt ~200-byte JSON payload shared through `Payload`);
//! - `enqueue/pregenerated_id`: the same with ids generated outside the timing;
//! - `enqueue_batch/1000`: batches of 1000 prebuilt tasks, throughput per task;
//! - `claim_ack/steady`: claim 1 + ack on a queue of about 1000 default-priority tasks of one
//!   tenant that never runs dry (refilled between timed segments);
//! - `claim_ack_depth/{1k,100k,1M}`: claim 1 + ack with that many tasks waiting over 4
//!   priorities and 100 tenants; the claimed tasks are replaced (same priority and tenant, so the
//!   mix stays put) between timed segments of 100;
//! - `claim_ack_refill_depth/{1k,100k,1M}`: the same cycle with the replacement's enqueue timed
//!   too, so each iteration is claim 1 + ack + enqueue 1.
//!
//! The memory store's futures never wait, so each is polled once with a no-op waker (see
//! [`ready`]) instead of going through a runtime. Enqueue benches move to a fresh store every
//! 100k tasks and claim benches purge finished tasks between timed segments, so memory stays
//! bounded and no iteration pays for another's cleanup: setup and cleanup run outside the
//! timing (`iter_custom`).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use godel_queue::{
    AgentId, Eligibility, Lease, MemoryQueueStore, NewTask, Payload, Priority, QueueStore, TaskId,
    TenantId,
};

/// Tasks a store takes before an enqueue bench moves to a fresh one.
const STORE_SPAN: u64 = 100_000;
/// Claim iterations timed between two purges and refills (at most 10% of the smallest depth).
const SEGMENT: u64 = 100;

/// Runs a memory-store future to completion: it never waits, so one poll finishes it.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a MemoryQueueStore future waited"),
    }
}

/// A JSON object of about 200 bytes, like a small agent prompt.
fn payload() -> Payload {
    let value = serde_json::json!({
        "prompt": "fix the failing test in crates/queue and explain the cause in the commit message",
        "repo": "godel-dev/godel",
        "branch": "main",
        "options": {"model": "default", "max_turns": 20, "timeout_s": 600},
    });
    let size = serde_json::to_string(&value).expect("serialises").len();
    assert!((180..=240).contains(&size), "payload is {size} bytes");
    Payload::new(value)
}

fn tenant(i: usize) -> TenantId {
    TenantId::parse(&format!("tenant-{i}")).expect("valid tenant name")
}

/// A task with a given id, built without generating one.
fn task_with_id(template: &NewTask, id: TaskId) -> NewTask {
    NewTask {
        id,
        ..template.clone()
    }
}

fn claim_one(store: &MemoryQueueStore, agent: &AgentId, eligibility: &Eligibility) -> Lease {
    ready(store.claim(agent, eligibility, 1))
        .expect("claim")
        .pop()
        .expect("the queue never runs dry")
}

/// Times `iters` iterations in segments of at most `segment`: `before` prepares a segment and
/// `after` cleans up after it, both untimed; only `timed` runs under the clock.
fn segmented<T, U>(
    iters: u64,
    segment: u64,
    mut before: impl FnMut(u64) -> T,
    mut timed: impl FnMut(T) -> U,
    mut after: impl FnMut(U),
) -> Duration {
    let mut took = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let span = left.min(segment);
        let input = before(span);
        let start = Instant::now();
        let output = timed(input);
        took += start.elapsed();
        after(output);
        left -= span;
    }
    took
}

fn bench_enqueue(c: &mut Criterion) {
    let mut group = c.benchmark_group("task_id");
    group.throughput(Throughput::Elements(1));
    group.bench_function("generate", |b| b.iter(TaskId::generate));
    group.finish();

    let payload = payload();
    let acme = tenant(0);
    let mut group = c.benchmark_group("enqueue");
    group.throughput(Throughput::Elements(1));
    group.bench_function("new_task", |b| {
        b.iter_custom(|iters| {
            segmented(
                iters,
                STORE_SPAN,
                |span| (MemoryQueueStore::new(), span),
                |(store, span)| {
                    for _ in 0..span {
                        let task = NewTask::new(acme.clone(), payload.clone());
                        black_box(ready(store.enqueue(task)).expect("enqueue"));
                    }
                    store
                },
                drop,
            )
        });
    });
    group.bench_function("pregenerated_id", |b| {
        let template = NewTask::new(acme.clone(), payload.clone());
        b.iter_custom(|iters| {
            segmented(
                iters,
                STORE_SPAN,
                |span| {
                    let ids: Vec<TaskId> = (0..span).map(|_| TaskId::generate()).collect();
                    (MemoryQueueStore::new(), ids)
                },
                |(store, ids)| {
                    for id in ids {
                        black_box(
                            ready(store.enqueue(task_with_id(&template, id))).expect("enqueue"),
                        );
                    }
                    store
                },
                drop,
            )
        });
    });
    group.finish();

    const BATCH: u64 = 1000;
    let mut group = c.benchmark_group("enqueue_batch");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_with_input(BenchmarkId::from_parameter(BATCH), &BATCH, |b, &size| {
        let template = NewTask::new(acme.clone(), payload.clone());
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            let mut store = MemoryQueueStore::new();
            let mut in_store = 0;
            for _ in 0..iters {
                if in_store >= STORE_SPAN {
                    store = MemoryQueueStore::new();
                    in_store = 0;
                }
                let batch: Vec<NewTask> = (0..size)
                    .map(|_| task_with_id(&template, TaskId::generate()))
                    .collect();
                let start = Instant::now();
                black_box(ready(store.enqueue_batch(batch)).expect("enqueue_batch"));
                took += start.elapsed();
                in_store += size;
            }
            took
        });
    });
    group.finish();
}

/// Enqueues `n` prebuilt tasks spread over the four priorities and `tenants` tenants.
fn prefill(store: &MemoryQueueStore, n: usize, tenants: &[TenantId], payload: &Payload) {
    let mut left = n;
    let mut i = 0;
    while left > 0 {
        let batch: Vec<NewTask> = (0..left.min(1000))
            .map(|_| {
                i += 1;
                // Coprime strides spread every (tenant, priority) pair evenly.
                NewTask::new(tenants[i % tenants.len()].clone(), payload.clone())
                    .with_priority(Priority::ALL[(i / tenants.len()) % 4])
            })
            .collect();
        left -= batch.len();
        ready(store.enqueue_batch(batch)).expect("prefill");
    }
}

fn bench_claim_ack(c: &mut Criterion) {
    let payload = payload();
    let agent = AgentId::parse("agent-1").expect("valid agent name");
    let any = Eligibility::any();

    let mut group = c.benchmark_group("claim_ack");
    group.throughput(Throughput::Elements(1));
    group.bench_function("steady", |b| {
        let store = MemoryQueueStore::new();
        let acme = tenant(0);
        let fill = |n: u64| {
            let batch = (0..n)
                .map(|_| NewTask::new(acme.clone(), payload.clone()))
                .collect();
            ready(store.enqueue_batch(batch)).expect("fill");
        };
        fill(10 * SEGMENT);
        b.iter_custom(|iters| {
            segmented(
                iters,
                SEGMENT,
                |span| span,
                |span| {
                    for _ in 0..span {
                        let lease = claim_one(&store, &agent, &any);
                        ready(store.ack(&lease.token, None)).expect("ack");
                    }
                    span
                },
                // Refill what was taken and drop what completed, untimed.
                |span| {
                    fill(span);
                    ready(store.purge_finished(Duration::ZERO)).expect("purge");
                },
            )
        });
    });
    group.finish();

    let tenants: Vec<TenantId> = (0..100).map(tenant).collect();
    let template = NewTask::new(tenants[0].clone(), payload.clone());
    // The replacement of a claimed task: same tenant and priority, so the mix stays put.
    let replacement = |id: TaskId, lease: &Lease| NewTask {
        id,
        tenant: lease.task.tenant.clone(),
        priority: Some(lease.task.priority),
        ..template.clone()
    };
    for (label, depth) in [("1k", 1_000), ("100k", 100_000), ("1M", 1_000_000)] {
        let store = MemoryQueueStore::new();
        prefill(&store, depth, &tenants, &payload);

        // Claim + ack timed; the replacements are enqueued between segments, untimed.
        let mut group = c.benchmark_group("claim_ack_depth");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_custom(|iters| {
                segmented(
                    iters,
                    SEGMENT,
                    |span| Vec::with_capacity(span as usize),
                    |mut claimed: Vec<Lease>| {
                        for _ in 0..claimed.capacity() {
                            let lease = claim_one(&store, &agent, &any);
                            ready(store.ack(&lease.token, None)).expect("ack");
                            claimed.push(lease);
                        }
                        claimed
                    },
                    |claimed| {
                        let batch = claimed
                            .iter()
                            .map(|lease| replacement(TaskId::generate(), lease))
                            .collect();
                        ready(store.enqueue_batch(batch)).expect("refill");
                        ready(store.purge_finished(Duration::ZERO)).expect("purge");
                    },
                )
            });
        });
        group.finish();

        // The whole cycle timed: claim + ack + enqueue of the replacement (id made untimed).
        let mut group = c.benchmark_group("claim_ack_refill_depth");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_custom(|iters| {
                segmented(
                    iters,
                    SEGMENT,
                    |span| (0..span).map(|_| TaskId::generate()).collect::<Vec<_>>(),
                    |ids| {
                        for id in ids {
                            let lease = claim_one(&store, &agent, &any);
                            ready(store.ack(&lease.token, None)).expect("ack");
                            ready(store.enqueue(replacement(id, &lease))).expect("enqueue");
                        }
                    },
                    |()| {
                        ready(store.purge_finished(Duration::ZERO)).expect("purge");
                    },
                )
            });
        });
        group.finish();
        // Drop the big store before building the next one.
        drop(store);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = queue;
    config = config();
    targets = bench_enqueue, bench_claim_ack
}
criterion_main!(queue);
