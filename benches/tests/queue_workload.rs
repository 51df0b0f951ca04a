//! End-to-end checks of `godel-bench queue-workload`: the workload run in-process with tiny
//! sizes produces every field of the `BENCH-WORKLOAD.md` JSON with sound values, the binary
//! writes that JSON to `$OUT`, and stores of later issues are refused rather than faked.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use godel_benches::params::Params;
use godel_benches::stores::{self, StoreKind};
use godel_benches::workload;
use serde_json::Value;

fn tiny(out: &str) -> Params {
    let vars: HashMap<&str, &str> = [
        ("OUT", out),
        ("N", "200"),
        ("RATE", "200"),
        ("LAT_SECONDS", "1"),
        ("WARMUP_S", "0"),
        ("PRIO_N", "100"),
    ]
    .into();
    Params::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned())).unwrap()
}

fn field<'a>(json: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(json, |v, key| {
        v.get(key)
            .unwrap_or_else(|| panic!("no field {path} in {json:#}"))
    })
}

fn number(json: &Value, path: &str) -> f64 {
    field(json, path)
        .as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number in {json:#}"))
}

#[test]
fn the_memory_workload_reports_every_field_and_keeps_priority_order() {
    workload_reports_every_field_and_keeps_priority_order(StoreKind::Memory, "godel-queue ");
}

#[test]
fn the_sqlite_workload_reports_every_field_and_keeps_priority_order() {
    workload_reports_every_field_and_keeps_priority_order(StoreKind::Sqlite, "godel-sqlite ");
}

#[test]
fn the_redis_workload_reports_every_field_and_keeps_priority_order() {
    workload_reports_every_field_and_keeps_priority_order(StoreKind::Redis, "godel-redis ");
}

#[test]
fn the_paired_workload_reports_every_field_and_keeps_priority_order() {
    workload_reports_every_field_and_keeps_priority_order(StoreKind::Paired, "godel ");
}

#[test]
fn the_postgres_workload_reports_every_field_and_keeps_priority_order() {
    workload_reports_every_field_and_keeps_priority_order(StoreKind::Postgres, "godel-postgres ");
}

fn workload_reports_every_field_and_keeps_priority_order(kind: StoreKind, version: &str) {
    let params = tiny("/dev/null");
    let opened = match stores::open(kind, &params) {
        Ok(opened) => opened,
        // Only stores on a server can be unreachable; GODEL_TEST_LIVE decides skip or fail.
        Err(error) if !matches!(kind, StoreKind::Memory | StoreKind::Sqlite) => {
            let Some(opened) =
                godel_test_support::live::unavailable(kind.as_str(), format!("{error:#}"))
            else {
                return;
            };
            opened
        }
        Err(error) => panic!("{kind}: {error:#}"),
    };
    let json = serde_json::to_value(workload::run(&params, &opened).unwrap()).unwrap();

    assert_eq!(field(&json, "system"), "godel");
    assert_eq!(field(&json, "backend"), kind.as_str());
    assert!(
        field(&json, "backend_version")
            .as_str()
            .unwrap()
            .starts_with(version)
    );
    assert_eq!(field(&json, "version"), env!("CARGO_PKG_VERSION"));
    let in_process = matches!(kind, StoreKind::Memory | StoreKind::Sqlite);
    let config = field(&json, "config").as_str().unwrap();
    assert_eq!(config.contains("in-process"), in_process, "{config}");
    assert_eq!(number(&json, "params.concurrency"), 50.0);
    assert_eq!(number(&json, "params.n"), 200.0);
    for path in [
        "enqueue.bulk_per_s",
        "enqueue.serial_per_s",
        "enqueue.par_per_s",
        "process.per_s",
        "process.worker_cpu_pct",
        "process.worker_rss_mb",
        "latency.p50_ms",
        "latency.p99_ms",
        "latency.max_ms",
    ] {
        assert!(number(&json, path) > 0.0, "{path} in {json:#}");
    }
    for path in ["process.server_cpu_pct", "latency.server_cpu_pct"] {
        assert!(number(&json, path) >= 0.0, "{path} in {json:#}");
    }
    assert_eq!(field(&json, "process.timed_out"), false);
    assert!(number(&json, "latency.p50_ms") <= number(&json, "latency.p99_ms"));
    assert!(number(&json, "latency.p99_ms") <= number(&json, "latency.max_ms"));

    assert_eq!(number(&json, "priority.c1.strict_violations"), 0.0);
    assert_eq!(number(&json, "priority.c1.started"), 100.0);
    assert_eq!(number(&json, "priority.c1.missing"), 0.0);
    assert_eq!(number(&json, "priority.c1.duplicates"), 0.0);
    assert_eq!(number(&json, "priority.c50.started"), 100.0);
    assert_eq!(
        number(&json, "priority.c50.windowed_violations"),
        0.0,
        "{kind}: {json:#}"
    );
    assert!(number(&json, "priority.c50.strict_violations") >= 0.0);
    assert_eq!(
        field(&json, "errors"),
        &Value::Array(Vec::new()),
        "{json:#}"
    );
}

#[test]
fn the_binary_writes_the_json_to_out() {
    let out: PathBuf =
        std::env::temp_dir().join(format!("godel-bench-{}-out.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_godel-bench"))
        .args(["queue-workload", "--store", "memory"])
        .env("OUT", &out)
        .envs([
            ("N", "50"),
            ("RATE", "100"),
            ("LAT_SECONDS", "0.3"),
            ("WARMUP_S", "0"),
            ("PRIO_N", "40"),
            ("CONCURRENCY", "4"),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let written = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let json: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(field(&json, "params.concurrency"), 4);
    assert_eq!(number(&json, "priority.c1.started"), 40.0);
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed, json, "stdout and $OUT hold the same JSON");
}

#[test]
fn the_workload_needs_out() {
    let output = Command::new(env!("CARGO_BIN_EXE_godel-bench"))
        .args(["queue-workload", "--store", "memory"])
        .env_remove("OUT")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("OUT is required"));
}
