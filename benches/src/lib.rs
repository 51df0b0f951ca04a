//! `godel-benches`: criterion benches of Godel and the `godel-bench` load programs.
//!
//! This package is being filled in: its benches of `godel-queue` (enqueue, enqueue_batch,
//! claim+ack, claim against 1k to 1M waiting tasks) and the `godel-bench queue-workload` program
//! arrive with issue #2. Run them with `cargo xtask bench`; the numbers go into
//! `docs/benchmarks.md` with the machine they ran on.
