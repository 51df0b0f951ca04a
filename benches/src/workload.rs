//! The queue workload of `BENCH-WORKLOAD.md`, run against any [`QueueStore`].
//!
//! Two tokio runtimes share the store: the client runtime (and the thread that calls [`run`])
//! enqueues, and the worker runtime, whose threads are named [`WORKER_THREAD`], runs
//! `CONCURRENCY` worker tasks. Each worker is an agent `worker-<i>` claiming one task at a time
//! with [`Eligibility::any`]; its handler records (job, level, start time) and acks, nothing
//! more. A worker that finds the queue empty waits on a [`Notify`] the enqueuers signal after
//! every enqueue (with a fallback poll every [`IDLE_POLL`]), so a job is picked up as soon as it
//! is enqueued, as a blocking pop would.
//!
//! Phases run one after another on the same store; between phases whatever is left is drained
//! through the port (claim and ack) and purged, so each phase starts from an empty queue.

use std::num::NonZero;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use godel_queue::{AgentId, Eligibility, Lease, NewTask, Payload, Priority, QueueStore, TenantId};
use serde_json::json;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::params::Params;
use crate::procstat::{self, CpuSplit};
use crate::report::{
    EnqueueReport, LatencyReport, PriorityC1, PriorityConcurrent, PriorityReport, ProcessReport,
    Report, round,
};
use crate::rng::SplitMix64;
use crate::stats::{PriorityOutcome, percentile};
use crate::stores::{OpenedStore, StoreKind};

/// Name of the worker runtime's threads (their CPU is the report's `worker_cpu_pct`).
pub const WORKER_THREAD: &str = "godel-worker";
/// Name of the client runtime's threads (the enqueuers).
pub const CLIENT_THREAD: &str = "godel-client";
/// How long an idle worker waits for a wake-up before it polls the store anyway.
pub const IDLE_POLL: Duration = Duration::from_millis(100);
/// The tenant every job of the workload belongs to.
pub const TENANT: &str = "bench";

/// Shortest time a drain may take before it counts as timed out (plus 10 ms per job).
const MIN_DEADLINE: Duration = Duration::from_secs(60);
/// Seed of the priority draws: runs are repeatable.
const SEED: u64 = 0x6f64_656c_2d62_656e;
/// Characters of padding that make a job's payload about 200 bytes of JSON.
const PAD: usize = 130;
/// Most error messages kept verbatim; the rest are counted.
const MAX_ERRORS: usize = 20;

/// Runs every phase against `opened` and returns the report.
///
/// # Errors
/// When a runtime cannot be built or the store fails outside a measured operation (reading the
/// depth, draining leftovers). Failures of measured operations are counted in `errors`.
pub fn run(params: &Params, opened: &OpenedStore) -> Result<Report> {
    let threads = std::thread::available_parallelism().map_or(2, NonZero::get);
    let workers = runtime(WORKER_THREAD, threads).context("build the worker runtime")?;
    let client = runtime(CLIENT_THREAD, threads).context("build the client runtime")?;
    let config = describe(params, opened, threads);
    let mut workload = Workload {
        params,
        store: Arc::clone(&opened.store),
        workers: workers.handle().clone(),
        wake: Arc::new(Notify::new()),
        jobs: JobFactory::new()?,
        rng: SplitMix64::new(SEED),
        errors: Errors::default(),
    };
    let mut report = client.block_on(workload.run())?;
    report.backend = opened.kind.as_str().to_owned();
    report.backend_version.clone_from(&opened.backend_version);
    report.config = config;
    report.errors = workload.errors.into_list();
    Ok(report)
}

fn runtime(name: &str, threads: usize) -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        // I/O too: a store's client may open connections on the runtime that calls it.
        .enable_all()
        .build()
}

fn describe(params: &Params, opened: &OpenedStore, threads: usize) -> String {
    let where_ = match (opened.kind, opened.in_process) {
        (StoreKind::Memory, _) => {
            "in-process store, not durable (the ceiling): there is no server process, the store's \
             work runs on the threads that call it; worker_cpu_pct = the worker runtime's threads \
             (which also run the store's claim and ack), server_cpu_pct = every other thread of \
             the process (enqueuers, idle during the drain); worker_rss_mb = peak RSS (VmHWM) of \
             the whole process, store included"
        }
        (_, true) => {
            "in-process store, durable (SQLite file, WAL, synchronous=FULL, group commit): \
             worker_cpu_pct = the worker runtime's threads (which also run the store's claim and \
             ack logic), server_cpu_pct = every other thread of the process (the store's commit \
             writer and the enqueuers); worker_rss_mb = peak RSS of the whole process"
        }
        (_, false) => {
            "store server in its own process (Postgres or Redis on loopback): server_cpu_pct = \
             the other threads of this process (enqueuers, the store client's background tasks), \
             not the server's own CPU, which is not measured"
        }
    };
    format!(
        "{where_}; worker: tokio multi-thread runtime of {threads} threads, {c} tasks as agents \
         worker-0..{last}, each claiming 1 task (Eligibility::any) then acking; idle workers \
         wait on a tokio Notify signalled after every enqueue, polling every {poll} ms as a \
         fallback; enqueuers: a second runtime of {threads} threads; one tenant; payload ~200 \
         B JSON, levels uniform over 4, seeded; process.per_s = jobs / (first handler start -> \
         last handler start), confirmed by depth() = 0; CPU from /proc/self/task/*/schedstat",
        c = params.concurrency,
        last = params.concurrency - 1,
        poll = IDLE_POLL.as_millis(),
    )
}

/// Builds the workload's jobs: a ~200-byte JSON payload naming the job and its level.
#[derive(Debug, Clone)]
struct JobFactory {
    tenant: TenantId,
    pad: Arc<str>,
}

impl JobFactory {
    fn new() -> Result<Self> {
        Ok(Self {
            tenant: TenantId::parse(TENANT).context("parse the bench tenant")?,
            pad: "x".repeat(PAD).into(),
        })
    }

    fn task(&self, phase: &'static str, job: usize, level: Priority) -> NewTask {
        let payload = json!({
            "job": job,
            "level": level.as_str(),
            "phase": phase,
            "pad": &*self.pad,
        });
        NewTask::new(self.tenant.clone(), payload).with_priority(level)
    }
}

/// Reads back what the handler records from a payload: the job number and its level.
fn job_of(payload: &Payload) -> Option<(usize, Priority)> {
    let job = usize::try_from(payload.get("job")?.as_u64()?).ok()?;
    let level = payload.get("level")?.as_str()?.parse().ok()?;
    Some((job, level))
}

/// Error messages of a run, the first [`MAX_ERRORS`] verbatim.
#[derive(Debug, Default)]
struct Errors {
    list: Vec<String>,
    more: usize,
}

impl Errors {
    fn push(&mut self, message: String) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(message);
        } else {
            self.more += 1;
        }
    }

    fn into_list(mut self) -> Vec<String> {
        if self.more > 0 {
            self.list.push(format!("and {} more errors", self.more));
        }
        self.list
    }
}

struct Workload<'a> {
    params: &'a Params,
    store: Arc<dyn QueueStore>,
    workers: Handle,
    wake: Arc<Notify>,
    jobs: JobFactory,
    rng: SplitMix64,
    errors: Errors,
}

impl Workload<'_> {
    async fn run(&mut self) -> Result<Report> {
        let serial_per_s = self.enq_serial().await;
        self.reset().await?;
        let par_per_s = self.enq_par().await;
        self.reset().await?;
        let (bulk_per_s, mut process) = self.drain().await?;
        self.reset().await?;
        let latency = self.latency().await?;
        self.reset().await?;
        let c1 = self.prio(1).await?;
        self.reset().await?;
        let concurrent = self.prio(self.params.concurrency).await?;
        self.reset().await?;
        for (what, outcome) in [("c1", &c1), ("c50", &concurrent)] {
            if outcome.missing > 0 || outcome.duplicates > 0 {
                self.errors.push(format!(
                    "prio {what}: {} missing, {} duplicate starts",
                    outcome.missing, outcome.duplicates
                ));
            }
        }
        process.worker_rss_mb = match procstat::peak_rss_bytes() {
            Ok(bytes) => round(bytes as f64 / (1024.0 * 1024.0), 1),
            Err(e) => {
                self.errors.push(format!("read peak rss: {e}"));
                0.0
            }
        };
        Ok(Report {
            system: "godel",
            backend: String::new(),
            backend_version: String::new(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config: String::new(),
            params: self.params.clone(),
            enqueue: EnqueueReport {
                bulk_per_s: round(bulk_per_s, 0),
                serial_per_s: round(serial_per_s, 0),
                par_per_s: round(par_per_s, 0),
            },
            process,
            latency,
            priority: PriorityReport {
                c1: PriorityC1 {
                    strict_violations: c1.strict_violations,
                    started: c1.started,
                    missing: c1.missing,
                    duplicates: c1.duplicates,
                },
                c50: PriorityConcurrent {
                    strict_violations: concurrent.strict_violations,
                    windowed_violations: concurrent.windowed_violations,
                    started: concurrent.started,
                },
            },
            errors: Vec::new(),
        })
    }

    fn levels(&mut self, n: usize) -> Arc<[Priority]> {
        (0..n).map(|_| self.rng.priority()).collect()
    }

    fn enqueue_limit(&self) -> Duration {
        Duration::from_secs_f64(self.params.enq_limit_s)
    }

    fn capped(&mut self, phase: &str, done: usize, of: usize) {
        self.errors.push(format!(
            "{phase}: stopped at the ENQ_LIMIT_S cap of {} s after {done} of {of} jobs",
            self.params.enq_limit_s
        ));
    }

    /// `enq_serial`: N single enqueues, each awaited. Returns enqueues per second.
    async fn enq_serial(&mut self) -> f64 {
        let n = self.params.n;
        let levels = self.levels(n);
        let limit = self.enqueue_limit();
        let start = Instant::now();
        let mut done = 0;
        for (job, level) in levels.iter().enumerate() {
            if start.elapsed() >= limit {
                self.capped("enq_serial", done, n);
                break;
            }
            match self
                .store
                .enqueue(self.jobs.task("enq_serial", job, *level))
                .await
            {
                Ok(_) => done += 1,
                Err(e) => self.errors.push(format!("enq_serial: enqueue: {e}")),
            }
            self.wake.notify_one();
        }
        per_second(done, start.elapsed())
    }

    /// `enq_par`: N single enqueues with `PAR_INFLIGHT` in flight. Returns enqueues per second.
    async fn enq_par(&mut self) -> f64 {
        let n = self.params.n;
        let levels = self.levels(n);
        let next = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let deadline = start + self.enqueue_limit();
        let senders: Vec<JoinHandle<Vec<String>>> = (0..self.params.par_inflight)
            .map(|_| {
                let (store, wake, jobs) = (
                    Arc::clone(&self.store),
                    Arc::clone(&self.wake),
                    self.jobs.clone(),
                );
                let (levels, next, done) =
                    (Arc::clone(&levels), Arc::clone(&next), Arc::clone(&done));
                tokio::spawn(async move {
                    let mut errors = Vec::new();
                    loop {
                        let job = next.fetch_add(1, Ordering::Relaxed);
                        if job >= n || Instant::now() >= deadline {
                            return errors;
                        }
                        match store.enqueue(jobs.task("enq_par", job, levels[job])).await {
                            Ok(_) => {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => errors.push(format!("enq_par: enqueue: {e}")),
                        }
                        wake.notify_one();
                    }
                })
            })
            .collect();
        for sender in senders {
            match sender.await {
                Ok(errors) => errors.into_iter().for_each(|e| self.errors.push(e)),
                Err(e) => self.errors.push(format!("enq_par: sender task: {e}")),
            }
        }
        let elapsed = start.elapsed();
        let done = done.load(Ordering::Relaxed);
        if done < n && Instant::now() >= deadline {
            self.capped("enq_par", done, n);
        }
        per_second(done, elapsed)
    }

    /// Enqueues `levels.len()` jobs in chunks of `CHUNK`, within the enqueue cap. Returns how
    /// many were enqueued and how long it took.
    async fn enqueue_bulk(
        &mut self,
        phase: &'static str,
        levels: &[Priority],
    ) -> (usize, Duration) {
        let limit = self.enqueue_limit();
        let start = Instant::now();
        let mut done = 0;
        for (first, chunk) in levels.chunks(self.params.chunk).enumerate() {
            if start.elapsed() >= limit {
                self.capped(phase, done, levels.len());
                break;
            }
            let first = first * self.params.chunk;
            let batch: Vec<NewTask> = chunk
                .iter()
                .enumerate()
                .map(|(i, level)| self.jobs.task(phase, first + i, *level))
                .collect();
            match self.store.enqueue_batch(batch).await {
                Ok(enqueued) => done += enqueued.len(),
                Err(e) => self.errors.push(format!("{phase}: enqueue_batch: {e}")),
            }
            self.wake.notify_waiters();
        }
        (done, start.elapsed())
    }

    fn deadline(jobs: usize) -> Duration {
        MIN_DEADLINE
            + Duration::from_millis(10).saturating_mul(u32::try_from(jobs).unwrap_or(u32::MAX))
    }

    /// `drain`: N enqueued in bulk, then drained by `CONCURRENCY` workers.
    async fn drain(&mut self) -> Result<(f64, ProcessReport)> {
        let levels = self.levels(self.params.n);
        let (enqueued, took) = self.enqueue_bulk("drain", &levels).await;
        let bulk_per_s = per_second(enqueued, took);

        let cpu_before = self.cpu();
        let started_at = Instant::now();
        let crew = Crew::spawn(self, self.params.concurrency, enqueued);
        let finished = crew.wait(Self::deadline(enqueued)).await;
        let wall = started_at.elapsed();
        let cpu = self.cpu_since(cpu_before);
        let starts = crew.stop(&mut self.errors).await;
        let waiting = self
            .store
            .depth()
            .await
            .context("read the depth after the drain")?;

        let timed_out = !finished || waiting.total() > 0;
        if timed_out {
            self.errors.push(format!(
                "drain: {} of {enqueued} jobs started before the deadline, {} still waiting",
                starts.len(),
                waiting.total()
            ));
        }
        let first = starts.iter().map(|s| s.at).min();
        let last = starts.iter().map(|s| s.at).max();
        let span = first
            .zip(last)
            .map_or(Duration::ZERO, |(first, last)| last - first);
        let process = ProcessReport {
            per_s: round(per_second(enqueued, span), 0),
            timed_out,
            worker_cpu_pct: round(cpu.map_or(0.0, |c| procstat::cpu_pct(c.matching, wall)), 1),
            worker_rss_mb: 0.0,
            server_cpu_pct: round(cpu.map_or(0.0, |c| procstat::cpu_pct(c.other, wall)), 1),
        };
        Ok((bulk_per_s, process))
    }

    /// `latency`: idle workers, single enqueues paced at `RATE` for `WARMUP_S + LAT_SECONDS`.
    async fn latency(&mut self) -> Result<LatencyReport> {
        let total = self.params.latency_jobs();
        let warmup = self.params.warmup_jobs();
        let levels = self.levels(total);
        let crew = Crew::spawn(self, self.params.concurrency, total);
        crew.wait_ready(Duration::from_secs(10)).await;

        let interval = Duration::from_secs_f64(1.0 / self.params.rate);
        let mut stamps: Vec<Option<Instant>> = Vec::with_capacity(total);
        let cpu_before = self.cpu();
        let started_at = Instant::now();
        let t0 = tokio::time::Instant::now();
        for (job, level) in levels.iter().enumerate() {
            let due = t0 + interval.saturating_mul(u32::try_from(job).unwrap_or(u32::MAX));
            tokio::time::sleep_until(due).await;
            let task = self.jobs.task("latency", job, *level);
            let stamp = Instant::now();
            match self.store.enqueue(task).await {
                Ok(_) => stamps.push(Some(stamp)),
                Err(e) => {
                    self.errors.push(format!("latency: enqueue: {e}"));
                    stamps.push(None);
                }
            }
            self.wake.notify_one();
        }
        let finished = crew.wait(Self::deadline(0)).await;
        let wall = started_at.elapsed();
        let cpu = self.cpu_since(cpu_before);
        let starts = crew.stop(&mut self.errors).await;
        if !finished {
            self.errors.push(format!(
                "latency: {} of {total} jobs started before the deadline",
                starts.len()
            ));
        }

        let mut first_start: Vec<Option<Instant>> = vec![None; total];
        for s in &starts {
            if let Some(slot) = first_start.get_mut(s.job) {
                slot.get_or_insert(s.at);
            }
        }
        let mut latencies: Vec<Duration> = (warmup..total)
            .filter_map(|job| Some(first_start[job]?.saturating_duration_since(stamps[job]?)))
            .collect();
        latencies.sort_unstable();
        let ms = |d: Option<Duration>| round(d.map_or(0.0, |d| d.as_secs_f64() * 1000.0), 3);
        Ok(LatencyReport {
            p50_ms: ms(percentile(&latencies, 50.0)),
            p99_ms: ms(percentile(&latencies, 99.0)),
            max_ms: ms(latencies.last().copied()),
            server_cpu_pct: round(cpu.map_or(0.0, |c| procstat::cpu_pct(c.other, wall)), 1),
        })
    }

    /// `prio`: `PRIO_N` jobs of random levels enqueued before any worker starts, then drained
    /// by `concurrency` workers; the start order is checked against the levels.
    async fn prio(&mut self, concurrency: usize) -> Result<PriorityOutcome> {
        let phase = if concurrency == 1 {
            "prio_c1"
        } else {
            "prio_c50"
        };
        let levels = self.levels(self.params.prio_n);
        let (enqueued, _) = self.enqueue_bulk(phase, &levels).await;
        let crew = Crew::spawn(self, concurrency, enqueued);
        if !crew.wait(Self::deadline(enqueued)).await {
            self.errors
                .push(format!("{phase}: not drained before the deadline"));
        }
        let starts = crew.stop(&mut self.errors).await;
        let order: Vec<(usize, Priority)> = starts.iter().map(|s| (s.job, s.level)).collect();
        Ok(PriorityOutcome::of(&order, enqueued, concurrency))
    }

    /// Drains whatever a phase left (claim and ack through the port) and purges finished
    /// tasks, so the next phase starts from an empty store.
    async fn reset(&mut self) -> Result<()> {
        let agent = AgentId::parse("bench-reset").context("parse the reset agent")?;
        loop {
            let leases = self
                .store
                .claim(&agent, &Eligibility::any(), 1000)
                .await
                .context("claim leftovers")?;
            if leases.is_empty() {
                break;
            }
            for lease in leases {
                self.store
                    .ack(&lease.token, None)
                    .await
                    .context("ack a leftover")?;
            }
        }
        self.store
            .purge_finished(Duration::ZERO)
            .await
            .context("purge finished tasks")?;
        Ok(())
    }

    /// CPU used since `before` (a reading of [`Self::cpu`]), when both readings worked.
    fn cpu_since(&mut self, before: Option<CpuSplit>) -> Option<CpuSplit> {
        self.cpu()
            .zip(before)
            .map(|(after, before)| after.since(&before))
    }

    fn cpu(&mut self) -> Option<CpuSplit> {
        match CpuSplit::now(WORKER_THREAD) {
            Ok(split) => Some(split),
            Err(e) => {
                self.errors.push(format!("read thread cpu from /proc: {e}"));
                None
            }
        }
    }
}

fn per_second(count: usize, took: Duration) -> f64 {
    if took.is_zero() {
        return 0.0;
    }
    count as f64 / took.as_secs_f64()
}

/// One handler start, as the worker recorded it.
#[derive(Debug, Clone, Copy)]
struct Start {
    /// Position in the global start order.
    pos: u64,
    job: usize,
    level: Priority,
    at: Instant,
}

/// Counters shared by a crew's workers and the phase that waits on them.
#[derive(Debug)]
struct Progress {
    target: usize,
    started: AtomicUsize,
    ready: AtomicUsize,
    next_pos: AtomicU64,
    done: Notify,
    stop: AtomicBool,
}

/// The workers of one phase, running on the worker runtime.
struct Crew {
    progress: Arc<Progress>,
    wake: Arc<Notify>,
    workers: usize,
    handles: Vec<JoinHandle<WorkerLog>>,
}

#[derive(Debug, Default)]
struct WorkerLog {
    starts: Vec<Start>,
    errors: Vec<String>,
}

impl Crew {
    /// Starts `workers` workers that run until stopped; `target` starts complete the phase.
    fn spawn(workload: &Workload<'_>, workers: usize, target: usize) -> Self {
        let progress = Arc::new(Progress {
            target,
            started: AtomicUsize::new(0),
            ready: AtomicUsize::new(0),
            next_pos: AtomicU64::new(0),
            done: Notify::new(),
            stop: AtomicBool::new(false),
        });
        let handles = (0..workers)
            .map(|i| {
                let worker = Worker {
                    agent: AgentId::parse(&format!("worker-{i}")).expect("worker names are valid"),
                    store: Arc::clone(&workload.store),
                    wake: Arc::clone(&workload.wake),
                    progress: Arc::clone(&progress),
                    log: WorkerLog::default(),
                };
                workload.workers.spawn(worker.run())
            })
            .collect();
        Self {
            progress,
            wake: Arc::clone(&workload.wake),
            workers,
            handles,
        }
    }

    /// Waits until `target` jobs started, at most `deadline`; returns whether they did.
    async fn wait(&self, deadline: Duration) -> bool {
        let reached = || self.progress.started.load(Ordering::Acquire) >= self.progress.target;
        if reached() {
            return true;
        }
        // `done` is signalled with `notify_one`, which keeps a permit if nobody waits yet.
        tokio::time::timeout(deadline, self.progress.done.notified())
            .await
            .is_ok()
            || reached()
    }

    /// Waits until every worker has found the queue empty once (so it waits for work), at
    /// most `deadline`.
    async fn wait_ready(&self, deadline: Duration) {
        let until = Instant::now() + deadline;
        while self.progress.ready.load(Ordering::Acquire) < self.workers && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops the workers and returns every start, in start order.
    async fn stop(self, errors: &mut Errors) -> Vec<Start> {
        self.progress.stop.store(true, Ordering::Release);
        self.wake.notify_waiters();
        let mut starts = Vec::with_capacity(self.progress.target);
        for handle in self.handles {
            match handle.await {
                Ok(log) => {
                    starts.extend(log.starts);
                    log.errors.into_iter().for_each(|e| errors.push(e));
                }
                Err(e) => errors.push(format!("worker task: {e}")),
            }
        }
        starts.sort_unstable_by_key(|s| s.pos);
        starts
    }
}

/// One worker: claims a task, records it, acks it; waits for a wake-up when the queue is empty.
struct Worker {
    agent: AgentId,
    store: Arc<dyn QueueStore>,
    wake: Arc<Notify>,
    progress: Arc<Progress>,
    log: WorkerLog,
}

impl Worker {
    async fn run(mut self) -> WorkerLog {
        let eligibility = Eligibility::any();
        let wake = Arc::clone(&self.wake);
        let mut announced = false;
        while !self.progress.stop.load(Ordering::Acquire) {
            let leases = match self.claim(&eligibility).await {
                Some(leases) if !leases.is_empty() => leases,
                Some(_) => {
                    // Register for a wake-up before looking again, so an enqueue between the
                    // look and the wait is not missed.
                    let notified = wake.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    if !announced {
                        announced = true;
                        self.progress.ready.fetch_add(1, Ordering::AcqRel);
                    }
                    if self.progress.stop.load(Ordering::Acquire) {
                        break;
                    }
                    match self.claim(&eligibility).await {
                        Some(leases) if !leases.is_empty() => leases,
                        _ => {
                            let _ = tokio::time::timeout(IDLE_POLL, notified).await;
                            continue;
                        }
                    }
                }
                None => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            };
            for lease in leases {
                self.handle(lease).await;
            }
            // The memory store never waits, so a busy worker would never yield: give the
            // runtime its turn as an async handler would.
            tokio::task::consume_budget().await;
        }
        self.log
    }

    async fn claim(&mut self, eligibility: &Eligibility) -> Option<Vec<Lease>> {
        match self.store.claim(&self.agent, eligibility, 1).await {
            Ok(leases) => Some(leases),
            Err(e) => {
                self.log.errors.push(format!("{}: claim: {e}", self.agent));
                None
            }
        }
    }

    /// The handler: records (job, level, start time), then acks.
    async fn handle(&mut self, lease: Lease) {
        let at = Instant::now();
        let pos = self.progress.next_pos.fetch_add(1, Ordering::Relaxed);
        match job_of(&lease.task.payload) {
            Some((job, level)) => self.log.starts.push(Start {
                pos,
                job,
                level,
                at,
            }),
            None => self.log.errors.push(format!(
                "{}: task {} has no job number or level in its payload",
                self.agent, lease.task.id
            )),
        }
        if let Err(e) = self.store.ack(&lease.token, None).await {
            self.log
                .errors
                .push(format!("{}: ack {}: {e}", self.agent, lease.token.task));
        }
        let started = self.progress.started.fetch_add(1, Ordering::AcqRel) + 1;
        if started == self.progress.target {
            self.progress.done.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_payload_is_about_200_bytes_and_reads_back() {
        let jobs = JobFactory::new().unwrap();
        let task = jobs.task("enq_serial", 19_999, Priority::Medium);
        let size = serde_json::to_string(&*task.payload).unwrap().len();
        assert!((190..=215).contains(&size), "{size} bytes");
        assert_eq!(job_of(&task.payload), Some((19_999, Priority::Medium)));
        assert_eq!(task.priority, Some(Priority::Medium));
        assert_eq!(job_of(&Payload::new(json!({"job": 1}))), None);
    }

    #[test]
    fn errors_beyond_the_first_twenty_are_counted() {
        let mut errors = Errors::default();
        for i in 0..25 {
            errors.push(format!("e{i}"));
        }
        let list = errors.into_list();
        assert_eq!(list.len(), MAX_ERRORS + 1);
        assert_eq!(list.last().unwrap(), "and 5 more errors");
    }
}
