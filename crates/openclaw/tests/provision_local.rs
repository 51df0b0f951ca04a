//! [`LocalProcessProvisioner`] with a stand-in gateway: a shell script taking the gateway's
//! arguments and serving `/health` and `/readyz` with `python3`, so the folder, config,
//! environment, readiness wait, stop and kill paths run without the real gateway (which
//! `real_gateway.rs` covers).

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use godel_federation::{ErrorKind, ProvisionRequest, Provisioner as _};
use godel_openclaw::{
    GatewayCommand, LocalProcessProvisioner, LocalProvisionerConfig, ModelProvider,
};
use godel_test_support::live::unique_name;
use godel_types::InstanceId;
use serde_json::Value;

/// A stand-in gateway: checks its arguments, records its `OPENCLAW_*` environment next to the
/// state folder, waits `STANDIN_DELAY` seconds, may exit with `STANDIN_EXIT`, then serves HTTP.
const STANDIN: &str = r#"#!/bin/sh
[ "$1 $2 $3 $5 $6" = "gateway run --port --bind loopback" ] || { echo "bad args: $*"; exit 2; }
if [ -n "$OPENCLAW_STATE_DIR" ]; then env | grep '^OPENCLAW_' | sort > "$OPENCLAW_STATE_DIR/../env.txt"; fi
echo "stand-in starting on $4"
sleep "${STANDIN_DELAY:-0}"
if [ -n "$STANDIN_EXIT" ]; then echo "stand-in failing on purpose"; exit "$STANDIN_EXIT"; fi
if [ -n "$STANDIN_IGNORE_TERM" ]; then trap '' TERM; fi
if [ -n "$STANDIN_NEVER_READY" ]; then exec sleep 600; fi
exec python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path in ("/health", "/readyz") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$4"
"#;

/// A folder removed when dropped, holding the stand-in script and the instance folders.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique_name("godel_provision"));
        fs::create_dir_all(&dir).expect("create the scratch folder");
        let script = dir.join("standin-gateway");
        fs::write(&script, STANDIN).expect("write the stand-in");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        Self(dir)
    }

    fn command(&self) -> GatewayCommand {
        GatewayCommand::new(self.0.join("standin-gateway"))
    }

    fn config(&self, command: GatewayCommand) -> LocalProvisionerConfig {
        let mut config = LocalProvisionerConfig::new(
            command,
            ModelProvider::openai_compatible("http://127.0.0.1:9/v1", "fake-model"),
        );
        config.root = self.0.join("gateways");
        config.ready_timeout = Duration::from_secs(20);
        config
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn request(max_sessions: u32) -> ProvisionRequest {
    ProvisionRequest {
        max_sessions,
        ..ProvisionRequest::default()
    }
}

fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .trim_start()
            .starts_with('Z')
    })
}

/// Waits up to 5 s for `pid` to be gone.
async fn gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !alive(pid)
}

fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("ws://127.0.0.1:PORT")
}

fn read_env(dir: &Path) -> String {
    fs::read_to_string(dir.join("env.txt")).expect("the stand-in recorded its environment")
}

#[tokio::test]
async fn a_started_gateway_gets_its_folder_config_token_and_environment() {
    let scratch = Scratch::new();
    let provisioner = LocalProcessProvisioner::new(scratch.config(scratch.command()));
    let instance = provisioner
        .start(request(7))
        .await
        .expect("the stand-in starts");
    let port = port_of(&instance.spec.endpoint);
    assert_eq!(instance.spec.endpoint, format!("ws://127.0.0.1:{port}"));
    assert_eq!(instance.spec.max_sessions, 7);
    instance.spec.validate().expect("a valid spec");
    let token = instance.spec.token.clone().expect("a token");
    assert_eq!(token.len(), 64);

    let dir = provisioner.dir(instance.id).expect("its folder");
    let config: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("openclaw.json")).expect("config"))
            .expect("JSON config");
    assert_eq!(config["gateway"]["auth"]["token"], token.as_str());
    assert_eq!(config["gateway"]["port"], port);
    assert_eq!(
        config["models"]["providers"]["local"]["baseUrl"],
        "http://127.0.0.1:9/v1"
    );
    let log_file = config["logging"]["file"].as_str().expect("logging.file");
    assert!(Path::new(log_file).starts_with(&dir), "{log_file}");

    let env = read_env(&dir);
    for expected in [
        format!("OPENCLAW_HOME={}", dir.join("home").display()),
        format!("OPENCLAW_STATE_DIR={}", dir.join("state").display()),
        format!(
            "OPENCLAW_CONFIG_PATH={}",
            dir.join("openclaw.json").display()
        ),
        "OPENCLAW_DISABLE_BONJOUR=1".to_owned(),
        "OPENCLAW_NO_RESPAWN=1".to_owned(),
        "OPENCLAW_SKIP_CHANNELS=1".to_owned(),
        "OPENCLAW_EXEC_SHELL_SNAPSHOT=0".to_owned(),
        "OPENCLAW_NO_AUTO_UPDATE=1".to_owned(),
    ] {
        assert!(
            env.lines().any(|l| l == expected),
            "missing {expected} in\n{env}"
        );
    }

    let stats = provisioner.stats(instance.id).expect("stats");
    assert_eq!(stats.port, port);
    assert!(stats.running);
    assert!(stats.startup > Duration::ZERO);
    assert!(stats.peak_rss_bytes > 0, "{stats:?}");
    assert!(alive(stats.pid));

    provisioner.stop(instance.id).await.expect("stop");
    assert!(gone(stats.pid).await, "the process is gone");
    assert!(!provisioner.stats(instance.id).expect("stats").running);
    assert!(!dir.exists(), "the folder is removed");
    provisioner
        .stop(instance.id)
        .await
        .expect("stopping again succeeds");
}

#[tokio::test]
async fn the_readiness_wait_outlasts_a_slow_start() {
    let scratch = Scratch::new();
    let command = scratch.command().env("STANDIN_DELAY", "1");
    let provisioner = LocalProcessProvisioner::new(scratch.config(command));
    let instance = provisioner
        .start(request(1))
        .await
        .expect("starts after a second");
    let stats = provisioner.stats(instance.id).expect("stats");
    assert!(stats.startup >= Duration::from_secs(1), "{stats:?}");
    provisioner.stop(instance.id).await.expect("stop");
}

#[tokio::test]
async fn two_gateways_get_base_ports_at_least_120_apart() {
    let scratch = Scratch::new();
    let provisioner = LocalProcessProvisioner::new(scratch.config(scratch.command()));
    let (a, b) = tokio::join!(provisioner.start(request(1)), provisioner.start(request(1)));
    let (a, b) = (a.expect("first"), b.expect("second"));
    let (pa, pb) = (port_of(&a.spec.endpoint), port_of(&b.spec.endpoint));
    assert!(pa.abs_diff(pb) >= 120, "{pa} and {pb}");
    assert_ne!(a.spec.token, b.spec.token);
    provisioner.stop(a.id).await.expect("stop a");
    provisioner.stop(b.id).await.expect("stop b");
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_zero_sessions_are_invalid() {
    let scratch = Scratch::new();
    let provisioner = LocalProcessProvisioner::new(scratch.config(scratch.command()));
    let unknown = InstanceId::generate();
    let err = provisioner.stop(unknown).await.expect_err("never started");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = provisioner.kill(unknown).await.expect_err("never started");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(provisioner.stats(unknown).is_none());
    let err = provisioner
        .start(request(0))
        .await
        .expect_err("no sessions");
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

#[tokio::test]
async fn a_gateway_that_exits_during_start_up_fails_with_its_log() {
    let scratch = Scratch::new();
    let command = scratch.command().env("STANDIN_EXIT", "3");
    let provisioner = LocalProcessProvisioner::new(scratch.config(command));
    let err = provisioner.start(request(1)).await.expect_err("it exits");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let text = format!(
        "{err}: {}",
        std::error::Error::source(&err).expect("a source")
    );
    assert!(text.contains("exited during start-up"), "{text}");
    assert!(text.contains("stand-in failing on purpose"), "{text}");
}

#[tokio::test]
async fn a_missing_program_fails_the_start_naming_the_fix() {
    let scratch = Scratch::new();
    let command = GatewayCommand::new(scratch.0.join("no-such-openclaw"));
    let provisioner = LocalProcessProvisioner::new(scratch.config(command));
    let err = provisioner
        .start(request(1))
        .await
        .expect_err("nothing to run");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(
        err.to_string().contains("GODEL_OPENCLAW_NODE/ENTRY"),
        "{err}"
    );
}

#[tokio::test]
async fn a_gateway_never_ready_is_killed_at_the_deadline() {
    let scratch = Scratch::new();
    let command = scratch.command().env("STANDIN_NEVER_READY", "1");
    let mut config = scratch.config(command);
    config.ready_timeout = Duration::from_millis(800);
    let root = config.root.clone();
    let provisioner = LocalProcessProvisioner::new(config);
    let err = provisioner
        .start(request(1))
        .await
        .expect_err("never ready");
    let source = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(source.contains("not ready within"), "{source}");
    let dir = fs::read_dir(&root)
        .expect("the failed gateway's folder is kept")
        .next()
        .expect("one folder")
        .expect("an entry")
        .path();
    let pid: u32 = fs::read_to_string(dir.join("gateway.pid"))
        .expect("its pid file")
        .parse()
        .expect("a pid");
    assert!(gone(pid).await, "the stuck gateway was killed");
}

#[tokio::test]
async fn a_gateway_ignoring_sigterm_is_killed_after_the_grace_period() {
    let scratch = Scratch::new();
    let command = scratch.command().env("STANDIN_IGNORE_TERM", "1");
    let mut config = scratch.config(command);
    config.stop_grace = Duration::from_millis(300);
    let provisioner = LocalProcessProvisioner::new(config);
    let instance = provisioner.start(request(1)).await.expect("starts");
    let pid = provisioner.stats(instance.id).expect("stats").pid;
    let began = Instant::now();
    provisioner.stop(instance.id).await.expect("stop");
    assert!(began.elapsed() >= Duration::from_millis(300));
    assert!(gone(pid).await, "killed after the grace period");
}

#[tokio::test]
async fn kill_ends_a_gateway_at_once() {
    let scratch = Scratch::new();
    let command = scratch.command().env("STANDIN_IGNORE_TERM", "1");
    let provisioner = LocalProcessProvisioner::new(scratch.config(command));
    let instance = provisioner.start(request(1)).await.expect("starts");
    let pid = provisioner.stats(instance.id).expect("stats").pid;
    let began = Instant::now();
    provisioner.kill(instance.id).await.expect("kill");
    assert!(began.elapsed() < Duration::from_secs(2));
    assert!(gone(pid).await);
    assert!(!provisioner.stats(instance.id).expect("stats").running);
    provisioner
        .stop(instance.id)
        .await
        .expect("stopping a killed one succeeds");
}

#[tokio::test]
async fn dropping_the_provisioner_stops_its_gateways() {
    let scratch = Scratch::new();
    let provisioner = LocalProcessProvisioner::new(scratch.config(scratch.command()));
    let a = provisioner.start(request(1)).await.expect("first");
    let b = provisioner.start(request(1)).await.expect("second");
    let pids = [a.id, b.id].map(|id| provisioner.stats(id).expect("stats").pid);
    drop(provisioner);
    for pid in pids {
        assert!(gone(pid).await, "{pid} survived the provisioner");
    }
}
