//! What a run measures besides requests and events: latency summaries (percentiles from
//! [`crate::stats`]), the CPU and memory of the processes (from [`crate::procstat`]) and a
//! monitor that polls the server's `/health` for its gateways once a second.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use crate::load::http::Http;
use crate::procstat::ProcessSample;
use crate::report::round;
use crate::stats::percentile;

/// Percentiles of one latency, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

impl LatencySummary {
    /// The summary of `values` (any order); all zero when empty.
    #[must_use]
    pub fn of(mut values: Vec<Duration>) -> Self {
        values.sort_unstable();
        let ms = |d: Option<Duration>| round(d.map_or(0.0, |d| d.as_secs_f64() * 1000.0), 3);
        Self {
            count: values.len(),
            p50_ms: ms(percentile(&values, 50.0)),
            p95_ms: ms(percentile(&values, 95.0)),
            p99_ms: ms(percentile(&values, 99.0)),
            max_ms: ms(values.last().copied()),
        }
    }

    /// The summary of millisecond values; negative ones (clock rounding) count as zero.
    #[must_use]
    pub fn of_ms(values: impl IntoIterator<Item = f64>) -> Self {
        Self::of(
            values
                .into_iter()
                .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0))
                .collect(),
        )
    }
}

/// CPU (in cores: CPU seconds per wall second) and memory of the processes of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    /// The server's CPU over the measured window, cores.
    pub server_cpu_cores: f64,
    /// The server's resident memory at the window's end, MiB.
    pub server_rss_mb: f64,
    /// The server's peak resident memory since it started (`VmHWM`), MiB.
    pub server_peak_rss_mb: f64,
    /// The gateway simulator's CPU over the window, cores.
    pub sim_cpu_cores: f64,
    /// This load generator's CPU over the window, cores.
    pub bench_cpu_cores: f64,
}

/// Readings at the start of a window.
#[derive(Debug, Clone, Copy)]
pub struct UsageMark {
    at: Instant,
    server: Option<ProcessSample>,
    sim: Option<ProcessSample>,
    bench: Option<ProcessSample>,
}

/// Mebibytes of `bytes`.
#[must_use]
pub fn mib(bytes: u64) -> f64 {
    round(bytes as f64 / (1024.0 * 1024.0), 1)
}

impl UsageMark {
    /// Reads the server (`server` PID), the simulator and this process now.
    #[must_use]
    pub fn now(server: u32, sim: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            server: ProcessSample::of(server).ok(),
            sim: sim.and_then(|pid| ProcessSample::of(pid).ok()),
            bench: ProcessSample::of(std::process::id()).ok(),
        }
    }

    /// The usage from `self` to `end`.
    #[must_use]
    pub fn until(&self, end: &Self) -> Usage {
        let wall = end.at.saturating_duration_since(self.at).as_secs_f64();
        let cores = |a: Option<ProcessSample>, b: Option<ProcessSample>| match (a, b) {
            (Some(a), Some(b)) if wall > 0.0 => {
                round(b.cpu.saturating_sub(a.cpu).as_secs_f64() / wall, 2)
            }
            _ => 0.0,
        };
        Usage {
            server_cpu_cores: cores(self.server, end.server),
            server_rss_mb: end.server.map_or(0.0, |s| mib(s.rss_bytes)),
            server_peak_rss_mb: end.server.map_or(0.0, |s| mib(s.peak_rss_bytes)),
            sim_cpu_cores: cores(self.sim, end.sim),
            bench_cpu_cores: cores(self.bench, end.bench),
        }
    }
}

/// The gateways as `/health` counted them during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GatewayHealth {
    /// Gateways started.
    pub expected: u32,
    /// Polls of `/health` answered.
    pub polls: u32,
    /// Polls that failed (no answer within the client's timeout, or no counts).
    pub failed_polls: u32,
    /// The fewest healthy instances any poll counted.
    pub min_healthy: u32,
    /// The most registered instances any poll counted.
    pub max_total: u32,
}

impl GatewayHealth {
    /// Whether every answered poll counted every gateway healthy, and some poll answered.
    #[must_use]
    pub fn all_healthy(&self) -> bool {
        self.polls > 0 && self.min_healthy >= self.expected
    }
}

/// Polls `/health` once a second until stopped.
#[derive(Debug)]
pub struct HealthMonitor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<GatewayHealth>,
}

impl HealthMonitor {
    /// Starts polling through `http`, expecting `gateways` healthy instances.
    #[must_use]
    pub fn start(http: Http, gateways: u32) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut seen = GatewayHealth {
                expected: gateways,
                min_healthy: u32::MAX,
                ..GatewayHealth::default()
            };
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = tick.tick() => match http.health().await {
                        Ok(counts) => {
                            seen.polls += 1;
                            seen.min_healthy = seen.min_healthy.min(counts.healthy);
                            seen.max_total = seen.max_total.max(counts.total);
                        }
                        Err(_) => seen.failed_polls += 1,
                    },
                }
            }
            if seen.polls == 0 {
                seen.min_healthy = 0;
            }
            seen
        });
        Self { stop, task }
    }

    /// Stops polling; what the polls saw.
    pub async fn finish(self) -> GatewayHealth {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_give_nearest_rank_percentiles_in_ms() {
        let values: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let s = LatencySummary::of(values);
        assert_eq!(s.count, 100);
        assert_eq!(
            (s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms),
            (50.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(LatencySummary::of(Vec::new()), LatencySummary::default());
        let ms = LatencySummary::of_ms([-0.2, 1.5]);
        assert_eq!((ms.p50_ms, ms.max_ms), (0.0, 1.5));
    }

    #[test]
    fn gateways_are_all_healthy_only_when_every_poll_counted_them() {
        let mut h = GatewayHealth {
            expected: 50,
            polls: 10,
            failed_polls: 0,
            min_healthy: 50,
            max_total: 50,
        };
        assert!(h.all_healthy());
        h.min_healthy = 49;
        assert!(!h.all_healthy());
        h.min_healthy = 50;
        h.polls = 0;
        assert!(!h.all_healthy(), "no poll answered: nothing shown");
    }

    #[test]
    fn usage_is_zero_without_readings() {
        let mark = UsageMark {
            at: Instant::now(),
            server: None,
            sim: None,
            bench: None,
        };
        assert_eq!(mark.until(&mark), Usage::default());
    }
}
