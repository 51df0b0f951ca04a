//! `godel::Settings`: the layers (defaults < file < environment < flags), the `DASH_*`
//! aliases, and errors that name the key at fault.

#![cfg(feature = "server")]

use std::path::PathBuf;

use godel::settings::{LogFormat, SettingsError};
use godel::{Settings, Sources};

fn env(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    )
}

fn load(
    file: Option<PathBuf>,
    vars: &[(&str, &str)],
    flags: &[(&str, &str)],
) -> Result<Settings, SettingsError> {
    Settings::load(&Sources {
        no_default_file: file.is_none(),
        file,
        env: env(vars),
        overrides: flags
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    })
}

fn toml(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("godel-settings-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("godel.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn with_no_configuration_the_server_is_local_embedded_and_key_bootstrapped() {
    let s = load(None, &[], &[]).unwrap();
    assert_eq!(s.server.addr.to_string(), "127.0.0.1:7373");
    assert_eq!(s.server.data_dir, PathBuf::from(".godel"));
    assert!(s.database.url.is_none() && s.redis.url.is_none());
    assert!(s.auth.bootstrap_admin_key);
    assert!(s.auth.jwt_secret.is_none());
    assert_eq!(s.log.format, LogFormat::Human);
    assert!(!s.server.dev);
}

#[test]
fn each_layer_overrides_the_one_before() {
    let file = toml(
        "layers",
        "[server]\naddr = \"127.0.0.1:9000\"\ndev_gateways = 5\n[log]\nlevel = \"debug\"\n",
    );
    let s = load(
        Some(file.clone()),
        &[("GODEL_DEV_GATEWAYS", "7"), ("GODEL_LOG_LEVEL", "warn")],
        &[("log.level", "error")],
    )
    .unwrap();
    assert_eq!(s.server.addr.port(), 9000, "the file beats the default");
    assert_eq!(s.server.dev_gateways, 7, "the environment beats the file");
    assert_eq!(s.log.level, "error", "a flag beats the environment");
}

#[test]
fn dash_names_are_aliases_that_godel_names_win_over() {
    let s = load(
        None,
        &[
            ("DASH_HOST", "0.0.0.0"),
            ("DASH_PORT", "8080"),
            ("DASH_JWT_SECRET", "d".repeat(32).as_str()),
            ("DASH_DATABASE_URL", "postgres://a@db/godel"),
            ("GODEL_DATABASE_URL", "postgres://b@db/godel"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(s.server.addr.to_string(), "0.0.0.0:8080");
    assert_eq!(s.auth.jwt_secret.unwrap().expose(), "d".repeat(32));
    assert_eq!(s.database.url.unwrap().expose(), "postgres://b@db/godel");
}

fn invalid_key(result: Result<Settings, SettingsError>) -> String {
    let e = result.expect_err("the settings must be refused");
    match &e {
        SettingsError::Invalid { key, .. } => key.clone(),
        SettingsError::Load(message) => message.clone(),
    }
}

#[test]
fn invalid_settings_name_their_key() {
    let short = invalid_key(load(None, &[("GODEL_JWT_SECRET", "too-short")], &[]));
    assert_eq!(short, "auth.jwt_secret");
    assert_eq!(
        invalid_key(load(None, &[("GODEL_DEV_GATEWAYS", "0")], &[])),
        "server.dev_gateways"
    );
    assert_eq!(
        invalid_key(load(None, &[("GODEL_DATABASE_URL", "mysql://x")], &[])),
        "database.url"
    );
    assert_eq!(
        invalid_key(load(None, &[("GODEL_REDIS_URL", "redis://127.0.0.1")], &[])),
        "redis.url",
        "Redis without Postgres is refused"
    );
    let typed = invalid_key(load(None, &[("GODEL_DEV_GATEWAYS", "abc")], &[]));
    assert!(typed.contains("server.dev_gateways"), "{typed}");
    let addr = invalid_key(load(None, &[("GODEL_ADDR", "nowhere")], &[]));
    assert!(addr.contains("server.addr"), "{addr}");
    let format = invalid_key(load(None, &[("GODEL_LOG_FORMAT", "xml")], &[]));
    assert!(format.contains("log.format"), "{format}");
}

#[test]
fn federation_settings_set_the_engines_health_model_and_breaker() {
    let defaults = load(None, &[], &[]).expect("defaults load");
    let health = defaults.federation.health();
    assert_eq!(health, godel_federation::HealthConfig::default());
    assert_eq!(
        defaults.federation.breaker(),
        godel_federation::BreakerConfig::default()
    );
    let tuned = load(
        None,
        &[
            ("GODEL_PROBE_INTERVAL_MS", "3000"),
            ("GODEL_UNHEALTHY_AFTER", "1"),
            ("GODEL_BREAKER_FAILURE_THRESHOLD", "2"),
        ],
        &[],
    )
    .expect("tuned settings load");
    assert_eq!(tuned.federation.health().probe_interval.as_millis(), 3000);
    assert_eq!(tuned.federation.health().unhealthy_after, 1);
    assert_eq!(tuned.federation.breaker().failure_threshold, 2);
    assert_eq!(
        invalid_key(load(None, &[("GODEL_UNHEALTHY_AFTER", "0")], &[])),
        "federation.unhealthy_after"
    );
    assert_eq!(
        invalid_key(load(
            None,
            &[
                ("GODEL_PROBE_INTERVAL_MS", "1000"),
                ("GODEL_PROBE_TIMEOUT_MS", "2000")
            ],
            &[]
        )),
        "federation.probe_timeout_ms",
        "a probe may not outlast the interval"
    );
}

#[test]
fn an_unknown_key_in_the_file_is_refused_by_name() {
    let file = toml("unknown", "[server]\nadress = \"127.0.0.1:1\"\n");
    let message = load(Some(file), &[], &[]).unwrap_err().to_string();
    assert!(message.contains("adress"), "{message}");
}

#[test]
fn a_missing_configuration_file_is_an_error_naming_it() {
    let message = load(Some(PathBuf::from("/nonexistent/godel.toml")), &[], &[])
        .unwrap_err()
        .to_string();
    assert!(message.contains("/nonexistent/godel.toml"), "{message}");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let s = load(
        None,
        &[
            ("GODEL_JWT_SECRET", "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"),
            ("GODEL_DATABASE_URL", "postgres://app:pa55w0rd@db/godel"),
        ],
        &[],
    )
    .unwrap();
    let printed = format!("{s:?}");
    assert!(!printed.contains("s3cr3t"), "{printed}");
    assert!(!printed.contains("pa55w0rd"), "{printed}");
}
