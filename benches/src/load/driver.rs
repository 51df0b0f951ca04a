//! The open-loop driver: each request of a stream is spawned at its due instant
//! ([`Schedule::due`]) whether or not the earlier ones have answered, and its latency is
//! counted from that instant, so a server that falls behind shows it (no coordinated
//! omission). In-flight requests are bounded; a send due while the bound is reached is not
//! made and counts as an `in_flight_overflow` error.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::load::http::{Http, Outcome, Read};
use crate::load::plan::Schedule;

/// Most requests in flight at once, per stream.
pub const MAX_IN_FLIGHT: usize = 20_000;

/// Task ids kept for the reads of [`Read::Task`].
const RECENT_IDS: usize = 1024;

/// One request: when it was due (from the run's start), how long until its answer, and how
/// it ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Due instant, from the run's start.
    pub due: Duration,
    /// Answer instant − due instant.
    pub latency: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// Ids of recently created tasks, shared by the submit and read streams.
#[derive(Debug, Default)]
pub struct RecentTasks(Mutex<VecDeque<String>>);

impl RecentTasks {
    fn push(&self, id: String) {
        let mut ids = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.len() >= RECENT_IDS {
            ids.pop_front();
        }
        ids.push_back(id);
    }

    fn pick(&self, n: u64) -> Option<String> {
        let ids = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.is_empty() {
            return None;
        }
        ids.get((n % ids.len() as u64) as usize).cloned()
    }
}

/// What a stream sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// `POST /api/v1/tasks`.
    Submit,
    /// The read mix of [`Read::MIX`], round-robin.
    Reads,
}

/// Sends `schedule` of `traffic` from `start` and returns every request's sample, in no
/// particular order, once all have answered.
pub async fn drive(
    http: Http,
    traffic: Traffic,
    schedule: Schedule,
    start: Instant,
    recent: Arc<RecentTasks>,
) -> Vec<Sample> {
    let (send, mut received) = mpsc::unbounded_channel();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut samples = Vec::with_capacity(schedule.count as usize);
    for i in 0..schedule.count {
        let due_offset = schedule.due(i);
        let due = start + due_offset;
        tokio::time::sleep_until(due).await;
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            samples.push(Sample {
                due: due_offset,
                latency: Duration::ZERO,
                outcome: Outcome::Overflow,
            });
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (http, send, in_flight, recent) = (
            http.clone(),
            send.clone(),
            Arc::clone(&in_flight),
            Arc::clone(&recent),
        );
        tokio::spawn(async move {
            let outcome = match traffic {
                Traffic::Submit => {
                    let (outcome, id) = http.submit(i, true).await;
                    if let Some(id) = id {
                        recent.push(id);
                    }
                    outcome
                }
                Traffic::Reads => {
                    let read = Read::MIX[(i % Read::MIX.len() as u64) as usize];
                    let task = recent.pick(i);
                    http.read(read, task.as_deref()).await
                }
            };
            let latency = Instant::now().saturating_duration_since(due);
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = send.send(Sample {
                due: due_offset,
                latency,
                outcome,
            });
        });
    }
    drop(send);
    while let Some(sample) = received.recv().await {
        samples.push(sample);
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_tasks_keep_the_newest_ids() {
        let recent = RecentTasks::default();
        assert_eq!(recent.pick(3), None);
        for i in 0..(RECENT_IDS + 5) {
            recent.push(i.to_string());
        }
        assert_eq!(recent.pick(0).as_deref(), Some("5"), "the 5 oldest went");
        assert_eq!(
            recent.pick(RECENT_IDS as u64 - 1).as_deref(),
            Some((RECENT_IDS + 4).to_string().as_str())
        );
    }
}
