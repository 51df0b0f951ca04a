//! CPU time per thread and peak resident memory of this process, and CPU time and memory of
//! another process by PID (the load generator watches the server it started), read from
//! Linux's `/proc`.
//!
//! Thread CPU time comes from `/proc/self/task/<tid>/schedstat` (nanoseconds on CPU), falling
//! back to `utime + stime` of `/proc/self/task/<tid>/stat` in clock ticks (assumed 100 per
//! second, the value of every mainstream Linux build) where schedstat is missing. Threads are
//! told apart by name (`comm`), which is how the workload separates its worker runtime from the
//! rest of the process.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

/// Clock ticks per second assumed for `/proc/<pid>/stat` times.
const TICKS_PER_SECOND: u64 = 100;

/// CPU time of the process's live threads, split by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuSplit {
    /// Threads whose name starts with the prefix asked for.
    pub matching: Duration,
    /// Every other thread.
    pub other: Duration,
}

impl CpuSplit {
    /// Reads the CPU time of every live thread of this process, splitting off those whose name
    /// starts with `prefix`.
    ///
    /// # Errors
    /// When `/proc/self/task` cannot be read (not Linux, or `/proc` not mounted).
    pub fn now(prefix: &str) -> io::Result<Self> {
        let mut split = Self::default();
        for task in fs::read_dir("/proc/self/task")? {
            let dir = task?.path();
            // A thread may exit between the listing and the reads: skip it.
            let Ok(name) = fs::read_to_string(dir.join("comm")) else {
                continue;
            };
            let Some(cpu) = thread_cpu(&dir) else {
                continue;
            };
            if name.trim_end().starts_with(prefix) {
                split.matching += cpu;
            } else {
                split.other += cpu;
            }
        }
        Ok(split)
    }

    /// CPU used from `earlier` to `self`, per group.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            matching: self.matching.saturating_sub(earlier.matching),
            other: self.other.saturating_sub(earlier.other),
        }
    }
}

fn thread_cpu(dir: &Path) -> Option<Duration> {
    if let Ok(text) = fs::read_to_string(dir.join("schedstat"))
        && let Some(ns) = parse_schedstat(&text)
    {
        return Some(Duration::from_nanos(ns));
    }
    let text = fs::read_to_string(dir.join("stat")).ok()?;
    let ticks = parse_stat_ticks(&text)?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// CPU time as a percentage of one core over `wall`.
#[must_use]
pub fn cpu_pct(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
}

/// The process's peak resident set size in bytes (`VmHWM` of `/proc/self/status`).
///
/// # Errors
/// When the file cannot be read or holds no `VmHWM` line.
pub fn peak_rss_bytes() -> io::Result<u64> {
    let text = fs::read_to_string("/proc/self/status")?;
    parse_vm_kb(&text, "VmHWM:")
        .ok_or_else(|| io::Error::other("no VmHWM line in /proc/self/status"))
}

/// One reading of another process: CPU time so far and resident memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessSample {
    /// `utime + stime` of all its threads, live and ended.
    pub cpu: Duration,
    /// Resident memory now (`VmRSS`), bytes.
    pub rss_bytes: u64,
    /// Peak resident memory since it started (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
}

impl ProcessSample {
    /// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`.
    ///
    /// # Errors
    /// When the process is gone or the files do not hold the expected fields.
    pub fn of(pid: u32) -> io::Result<Self> {
        let dir = Path::new("/proc").join(pid.to_string());
        let stat = fs::read_to_string(dir.join("stat"))?;
        let ticks = parse_stat_ticks(&stat)
            .ok_or_else(|| io::Error::other(format!("no CPU times in /proc/{pid}/stat")))?;
        let status = fs::read_to_string(dir.join("status"))?;
        let field = |name: &str| {
            parse_vm_kb(&status, name)
                .ok_or_else(|| io::Error::other(format!("no {name} line in /proc/{pid}/status")))
        };
        Ok(Self {
            cpu: Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND),
            rss_bytes: field("VmRSS:")?,
            peak_rss_bytes: field("VmHWM:")?,
        })
    }
}

/// Nanoseconds on CPU: the first field of a `schedstat` file.
fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `utime + stime` in clock ticks from a `stat` line. The command name (field 2) is in
/// parentheses and may hold spaces, so fields are counted after its closing parenthesis.
fn parse_stat_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Bytes of the `<field>  1234 kB` line, `field` with its colon (`VmHWM:`).
fn parse_vm_kb(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_gives_nanoseconds_on_cpu() {
        assert_eq!(parse_schedstat("123456789 5000 12\n"), Some(123_456_789));
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn stat_ticks_are_found_after_a_name_with_spaces_and_parentheses() {
        let line = "4242 (godel (w) 1) S 1 4242 4242 0 -1 4194304 102 0 0 0 70 30 0 0 20 0 1 0 \
                    139190 3133440 409 18446744073709551615";
        assert_eq!(parse_stat_ticks(line), Some(100));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn vm_lines_are_read_in_bytes() {
        let status =
            "Name:\tgodel-bench\nVmPeak:\t  9000 kB\nVmHWM:\t    1992 kB\nVmRSS:\t 1500 kB\n";
        assert_eq!(parse_vm_kb(status, "VmHWM:"), Some(1992 * 1024));
        assert_eq!(parse_vm_kb(status, "VmRSS:"), Some(1500 * 1024));
        assert_eq!(parse_vm_kb("Name: x\n", "VmHWM:"), None);
    }

    #[test]
    fn cpu_percent_is_of_one_core() {
        let pct = cpu_pct(Duration::from_millis(1500), Duration::from_secs(1));
        assert!((pct - 150.0).abs() < 1e-9, "{pct}");
        assert_eq!(cpu_pct(Duration::from_secs(1), Duration::ZERO), 0.0);
    }

    #[test]
    fn this_process_reports_its_own_threads_and_memory() {
        let spin_until = std::time::Instant::now() + Duration::from_millis(30);
        while std::time::Instant::now() < spin_until {}
        let split = CpuSplit::now("no-thread-has-this-name").unwrap();
        assert_eq!(split.matching, Duration::ZERO);
        assert!(split.other >= Duration::from_millis(10), "{split:?}");
        assert!(peak_rss_bytes().unwrap() > 1024 * 1024);
    }

    #[test]
    fn another_process_is_read_by_pid() {
        let sample = ProcessSample::of(std::process::id()).unwrap();
        assert!(sample.rss_bytes > 1024 * 1024, "{sample:?}");
        assert!(sample.peak_rss_bytes >= sample.rss_bytes, "{sample:?}");
        assert!(
            ProcessSample::of(u32::MAX).is_err(),
            "no process has that PID"
        );
    }
}
