//! The dispatch path, submit → run started on a (fake) gateway, through the whole engine:
//! validation, task details, enqueue, `task.created`, the dispatcher's wake-up, claim, session
//! open, `chat.send`-equivalent. Reported per task, for a single task at a time and for a burst.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{Mode, World};

fn dispatch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let mut world = runtime.block_on(async {
        let world = World::new();
        world
            .add_instance("bench", &[], 256, Mode::Complete(Duration::ZERO))
            .await;
        world
    });
    let mut group = c.benchmark_group("engine_dispatch");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("submit_to_started_one_at_a_time", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    world.submit("bench", |_| {}).await;
                    world.next_started().await;
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("submit_to_started_burst_of_100", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..100 {
                        world.submit("bench", |_| {}).await;
                    }
                    for _ in 0..100 {
                        world.next_started().await;
                    }
                }
                start.elapsed() / 100
            })
        });
    });
    group.finish();
    runtime.block_on(async {
        world.shutdown().await;
    });
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
