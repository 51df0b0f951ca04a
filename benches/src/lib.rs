//! `godel-benches`: criterion benches of Godel and the `godel-bench` load programs.
//!
//! What it is: the benches of `godel-queue` (`benches/queue.rs`: enqueue, enqueue_batch,
//! claim+ack, claim+ack against 1k to 1M waiting tasks) and the library behind the
//! `godel-bench` binary, whose `queue-workload` subcommand runs the comparison workload of
//! `BENCH-WORKLOAD.md` against a [`QueueStore`](godel_queue::QueueStore) and writes the same JSON
//! as the job queues Godel is compared with. Run the benches with `cargo xtask bench`; the
//! numbers go into `docs/benchmarks.md` with the machine they ran on.
//!
//! What it is not: a test of correctness (the conformance suite of `godel-queue` is), nor a
//! product: it is a program, so it reports failures with `anyhow`.
//!
//! The `load` subcommand is Godel's load generator ([`load`]): the server and simulated
//! gateways as processes, driven over HTTP open loop (`cargo xtask load`).
//!
//! Modules: [`params`] reads the workload's environment variables, [`stores`] opens the store
//! chosen by `--store`, [`workload`] runs the phases, [`submit`] measures submit latency at a
//! fixed rate (`submit-latency`), [`stats`] holds the pure arithmetic
//! (percentiles, priority violations), [`procstat`] reads CPU time and peak RSS from `/proc`,
//! and [`report`] is the JSON the program prints.

pub mod load;
pub mod params;
pub mod procstat;
pub mod report;
pub mod stats;
pub mod stores;
pub mod submit;
pub mod workload;

mod rng;
