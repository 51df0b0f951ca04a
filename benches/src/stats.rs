//! The workload's arithmetic, kept pure so it can be tested alone: percentiles of latencies and
//! the priority-order violations of a recorded start order.

use std::time::Duration;

use godel_queue::Priority;

/// The `q`-th percentile (0 to 100) of `sorted` by the nearest-rank method: the smallest value
/// with at least `q`% of the values at or below it. `None` for an empty slice.
///
/// # Panics
/// In debug builds, when `sorted` is not sorted.
#[must_use]
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    debug_assert!(sorted.is_sorted(), "percentile needs sorted input");
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 100.0) / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Jobs that started while a more urgent job had not: the job at position `i` of `levels` (in
/// start order) counts when any later position holds a strictly more urgent level.
#[must_use]
pub fn strict_violations(levels: &[Priority]) -> u64 {
    windowed_violations(levels, 1)
}

/// Like [`strict_violations`], but a job counts only when a more urgent job starts `window` or
/// more positions after it (jobs started by concurrent workers may swap places within the
/// window without counting). A `window` of 0 counts as 1.
#[must_use]
pub fn windowed_violations(levels: &[Priority], window: usize) -> u64 {
    let window = window.max(1);
    // most_urgent_from[i]: the most urgent level at position i or later.
    let mut most_urgent_from = vec![Priority::Low; levels.len() + 1];
    for i in (0..levels.len()).rev() {
        most_urgent_from[i] = most_urgent_from[i + 1].max(levels[i]);
    }
    levels
        .iter()
        .enumerate()
        .filter(|&(i, level)| {
            most_urgent_from
                .get(i + window)
                .is_some_and(|later| later > level)
        })
        .count() as u64
}

/// What a priority drain produced, checked against the jobs that were enqueued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityOutcome {
    /// Jobs that started while a more urgent job had not.
    pub strict_violations: u64,
    /// Jobs that started while a job at least `window` positions later was more urgent.
    pub windowed_violations: u64,
    /// Start records (a job started twice counts twice).
    pub started: u64,
    /// Enqueued jobs that never started.
    pub missing: u64,
    /// Start records beyond the first of their job.
    pub duplicates: u64,
}

impl PriorityOutcome {
    /// Checks `starts` (job number and level, in start order) of `enqueued` jobs numbered from
    /// 0. Violations are counted over each job's first start; a job number out of range counts
    /// as a duplicate, since no such job was enqueued.
    #[must_use]
    pub fn of(starts: &[(usize, Priority)], enqueued: usize, window: usize) -> Self {
        let mut seen = vec![false; enqueued];
        let mut firsts = Vec::with_capacity(starts.len().min(enqueued));
        for &(job, level) in starts {
            if let Some(slot) = seen.get_mut(job)
                && !*slot
            {
                *slot = true;
                firsts.push(level);
            }
        }
        let distinct = firsts.len();
        Self {
            strict_violations: strict_violations(&firsts),
            windowed_violations: windowed_violations(&firsts, window),
            started: starts.len() as u64,
            missing: (enqueued - distinct) as u64,
            duplicates: (starts.len() - distinct) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use Priority::{Critical as C, High as H, Low as L, Medium as M};

    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let hundred: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&hundred, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&hundred, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(
            percentile(&hundred, 100.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(percentile(&hundred, 0.0), Some(Duration::from_millis(1)));
        let few = ms(&[1, 2, 3, 4, 50]);
        assert_eq!(percentile(&few, 50.0), Some(Duration::from_millis(3)));
        assert_eq!(percentile(&few, 99.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&ms(&[7]), 99.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn strict_order_has_no_violations() {
        assert_eq!(strict_violations(&[C, C, H, M, M, L]), 0);
        assert_eq!(strict_violations(&[]), 0);
        assert_eq!(strict_violations(&[L]), 0);
    }

    #[test]
    fn a_job_counts_once_however_many_more_urgent_jobs_follow_it() {
        // L starts before H and C; M before C; H before C: three violations, each job once.
        assert_eq!(strict_violations(&[L, M, H, C]), 3);
        assert_eq!(strict_violations(&[M, L, L, C]), 3);
        // Equal levels never violate.
        assert_eq!(strict_violations(&[H, H, H]), 0);
        // A later less urgent job does not excuse an earlier inversion.
        assert_eq!(strict_violations(&[C, M, H, L]), 1);
    }

    #[test]
    fn the_window_forgives_swaps_of_fewer_positions() {
        let levels = [M, C, L, L, H];
        assert_eq!(strict_violations(&levels), 3); // M (C after), L and L (H after)
        assert_eq!(windowed_violations(&levels, 1), 3);
        // Window 2: M still counts (its C is 1 later, but H is 4 later); the first L's H is 2
        // later, the second L's only 1.
        assert_eq!(windowed_violations(&levels, 2), 2);
        assert_eq!(windowed_violations(&levels, 3), 1); // only M: H is 4 later
        assert_eq!(windowed_violations(&levels, 4), 1);
        assert_eq!(windowed_violations(&levels, 5), 0);
        assert_eq!(windowed_violations(&levels, 0), 3, "0 acts as 1");
    }

    #[test]
    fn outcome_counts_missing_and_duplicate_starts() {
        let starts = [(0, C), (2, H), (2, H), (1, L), (3, C)];
        let out = PriorityOutcome::of(&starts, 5, 2);
        assert_eq!(out.started, 5);
        assert_eq!(out.duplicates, 1);
        assert_eq!(out.missing, 1, "job 4 never started");
        // First starts: C H L C -> H and L precede a C: 2 strict; within window 2 only H.
        assert_eq!(out.strict_violations, 2);
        assert_eq!(out.windowed_violations, 1);
    }

    #[test]
    fn outcome_of_unknown_jobs_counts_them_as_duplicates() {
        let out = PriorityOutcome::of(&[(0, L), (9, C)], 1, 1);
        assert_eq!((out.started, out.missing, out.duplicates), (2, 0, 1));
        assert_eq!(out.strict_violations, 0);
    }
}
