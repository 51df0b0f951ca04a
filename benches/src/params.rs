//! The workload's parameters, read from the environment variables `BENCH-WORKLOAD.md` lists,
//! with its defaults.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

/// Every knob of the queue workload. Counts are jobs, times are seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    /// `OUT`: where the JSON goes (required).
    #[serde(skip)]
    pub out: PathBuf,
    /// `REDIS_URL`: the Redis server of the Redis store.
    #[serde(skip)]
    pub redis_url: Option<String>,
    /// `PG_ADMIN_URL`: the admin URL the Postgres store creates its own database through.
    #[serde(skip)]
    pub pg_admin_url: Option<String>,
    /// `N`: jobs per phase (default 20000).
    pub n: usize,
    /// `CONCURRENCY`: worker concurrency (default 50).
    pub concurrency: usize,
    /// `RATE`: enqueues per second in the latency phase (default 500).
    pub rate: f64,
    /// `LAT_SECONDS`: measured length of the latency phase (default 10).
    pub lat_seconds: f64,
    /// `WARMUP_S`: unmeasured start of the latency phase (default 1).
    pub warmup_s: f64,
    /// `PRIO_N`: jobs in the priority phase (default 2000).
    pub prio_n: usize,
    /// `CHUNK`: bulk enqueue chunk size (default 1000).
    pub chunk: usize,
    /// `ENQ_LIMIT_S`: cap on each enqueue phase (default 20).
    pub enq_limit_s: f64,
    /// `PAR_INFLIGHT`: single enqueues in flight in `enq_par` (default 50).
    pub par_inflight: usize,
}

impl Params {
    /// Reads the parameters from the process environment.
    ///
    /// # Errors
    /// When `OUT` is missing or a variable does not parse or is out of range.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the parameters through `lookup` (the environment, or a map in tests); unset and
    /// empty variables take their defaults.
    ///
    /// # Errors
    /// When `OUT` is missing or a variable does not parse or is out of range.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let Some(out) = get("OUT") else {
            bail!("OUT is required: the file the JSON result is written to");
        };
        let params = Self {
            out: PathBuf::from(out),
            redis_url: get("REDIS_URL"),
            pg_admin_url: get("PG_ADMIN_URL"),
            n: count(get("N"), "N", 20_000)?,
            concurrency: count(get("CONCURRENCY"), "CONCURRENCY", 50)?,
            rate: seconds(get("RATE"), "RATE", 500.0)?,
            lat_seconds: seconds(get("LAT_SECONDS"), "LAT_SECONDS", 10.0)?,
            warmup_s: seconds(get("WARMUP_S"), "WARMUP_S", 1.0)?,
            prio_n: count(get("PRIO_N"), "PRIO_N", 2_000)?,
            chunk: count(get("CHUNK"), "CHUNK", 1_000)?,
            enq_limit_s: seconds(get("ENQ_LIMIT_S"), "ENQ_LIMIT_S", 20.0)?,
            par_inflight: count(get("PAR_INFLIGHT"), "PAR_INFLIGHT", 50)?,
        };
        params.validate()?;
        Ok(params)
    }

    fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("N", self.n),
            ("CONCURRENCY", self.concurrency),
            ("PRIO_N", self.prio_n),
            ("CHUNK", self.chunk),
            ("PAR_INFLIGHT", self.par_inflight),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        for (name, value) in [
            ("RATE", self.rate),
            ("LAT_SECONDS", self.lat_seconds),
            ("ENQ_LIMIT_S", self.enq_limit_s),
        ] {
            if value <= 0.0 {
                bail!("{name} must be positive, got {value}");
            }
        }
        if self.warmup_s < 0.0 {
            bail!("WARMUP_S must not be negative, got {}", self.warmup_s);
        }
        Ok(())
    }

    /// Jobs the latency phase enqueues in all, warm-up included.
    #[must_use]
    pub fn latency_jobs(&self) -> usize {
        ((self.warmup_s + self.lat_seconds) * self.rate).ceil() as usize
    }

    /// Jobs of the latency phase's warm-up, left out of the percentiles.
    #[must_use]
    pub fn warmup_jobs(&self) -> usize {
        (self.warmup_s * self.rate).floor() as usize
    }
}

fn count(value: Option<String>, name: &str, default: usize) -> Result<usize> {
    value.map_or(Ok(default), |v| {
        v.trim()
            .parse()
            .with_context(|| format!("parse {name}={v:?} as a whole number"))
    })
}

fn seconds(value: Option<String>, name: &str, default: f64) -> Result<f64> {
    let parsed = value.map_or(Ok(default), |v| {
        v.trim()
            .parse::<f64>()
            .with_context(|| format!("parse {name}={v:?} as a number"))
    })?;
    if !parsed.is_finite() {
        bail!("{name} must be finite, got {parsed}");
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Params> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Params::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn unset_variables_take_the_documented_defaults() {
        let p = parse(&[("OUT", "/tmp/x.json")]).unwrap();
        assert_eq!(p.out, PathBuf::from("/tmp/x.json"));
        assert_eq!(p.n, 20_000);
        assert_eq!(p.concurrency, 50);
        assert_eq!(p.rate, 500.0);
        assert_eq!(p.lat_seconds, 10.0);
        assert_eq!(p.warmup_s, 1.0);
        assert_eq!(p.prio_n, 2_000);
        assert_eq!(p.chunk, 1_000);
        assert_eq!(p.enq_limit_s, 20.0);
        assert_eq!(p.par_inflight, 50);
        assert_eq!(p.redis_url, None);
        assert_eq!(p.latency_jobs(), 5_500);
        assert_eq!(p.warmup_jobs(), 500);
    }

    #[test]
    fn set_variables_override_the_defaults_and_empty_ones_do_not() {
        let p = parse(&[
            ("OUT", "o.json"),
            ("N", "200"),
            ("CONCURRENCY", " 4 "),
            ("RATE", "200"),
            ("LAT_SECONDS", "1.5"),
            ("WARMUP_S", "0"),
            ("PRIO_N", "100"),
            ("CHUNK", "7"),
            ("ENQ_LIMIT_S", "3"),
            ("PAR_INFLIGHT", ""),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
        ])
        .unwrap();
        assert_eq!((p.n, p.concurrency, p.prio_n, p.chunk), (200, 4, 100, 7));
        assert_eq!((p.rate, p.lat_seconds, p.warmup_s), (200.0, 1.5, 0.0));
        assert_eq!(p.enq_limit_s, 3.0);
        assert_eq!(p.par_inflight, 50, "empty means unset");
        assert_eq!(p.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(p.latency_jobs(), 300);
        assert_eq!(p.warmup_jobs(), 0);
    }

    #[test]
    fn out_is_required() {
        let err = parse(&[("N", "10")]).unwrap_err();
        assert!(err.to_string().contains("OUT"), "{err}");
    }

    #[test]
    fn malformed_or_out_of_range_values_are_refused_by_name() {
        for (name, value) in [
            ("N", "many"),
            ("N", "-1"),
            ("CONCURRENCY", "0"),
            ("RATE", "0"),
            ("RATE", "inf"),
            ("WARMUP_S", "-1"),
            ("CHUNK", "1.5"),
        ] {
            let err = parse(&[("OUT", "o.json"), (name, value)]).unwrap_err();
            assert!(format!("{err:#}").contains(name), "{name}={value}: {err:#}");
        }
    }
}
