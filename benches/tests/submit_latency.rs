//! `godel-bench submit-latency`: an open-loop run at a fixed rate answers every submission and
//! reports sound percentiles, and the binary prints that JSON.

use std::process::Command;

use godel_benches::params::Params;
use godel_benches::stores::{self, StoreKind};
use godel_benches::submit::{self, SubmitParams};
use serde_json::Value;

fn small() -> SubmitParams {
    SubmitParams {
        rate: 200.0,
        seconds: 0.5,
        warmup: 0.1,
    }
}

fn open(kind: StoreKind) -> stores::OpenedStore {
    let params =
        Params::from_lookup(|name| (name == "OUT").then(|| "/dev/null".to_owned())).unwrap();
    stores::open(kind, &params).unwrap()
}

#[test]
fn every_measured_submission_of_a_sqlite_run_is_answered_and_counted() {
    let report = submit::run(small(), &open(StoreKind::Sqlite)).unwrap();

    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(
        report.submitted, 100,
        "0.5 s at 200/s, the warm-up not counted"
    );
    assert!(report.p50_ms > 0.0);
    assert!(report.p50_ms <= report.p99_ms && report.p99_ms <= report.max_ms);
    assert!(report.achieved_per_s > 0.0);
    assert_eq!(report.backend, "sqlite");
}

#[test]
fn a_rate_of_zero_is_refused() {
    let refused = submit::run(
        SubmitParams {
            rate: 0.0,
            ..small()
        },
        &open(StoreKind::Memory),
    );
    assert!(refused.unwrap_err().to_string().contains("rate"));
}

#[test]
fn the_binary_prints_the_report_as_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_godel-bench"))
        .args(["submit-latency", "--store", "memory", "--rate", "100"])
        .args(["--seconds", "0.2", "--warmup", "0"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["backend"], "memory");
    assert_eq!(json["submitted"], 20);
}
