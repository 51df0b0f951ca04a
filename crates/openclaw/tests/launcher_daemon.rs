//! [`DaemonLauncher`] with stand-in gateways (shell scripts serving `/health` and `/readyz`
//! with `python3`): an endpoint already answering, autostart off, a configured command, the
//! `openclaw`/`openclaws`/`openclawd` search, and the degraded outcomes.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use godel_openclaw::{DaemonLauncher, GatewayCommand, LaunchOutcome, LauncherConfig};
use godel_test_support::live::unique_name;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A stand-in gateway: serves HTTP on the `--port` it is given, or exits with `STANDIN_EXIT`,
/// or never listens with `STANDIN_NEVER_READY`.
const STANDIN: &str = r#"#!/bin/sh
[ "$1 $2 $3 $5 $6" = "gateway run --port --bind loopback" ] || { echo "bad args: $*"; exit 2; }
if [ -n "$STANDIN_EXIT" ]; then exit "$STANDIN_EXIT"; fi
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

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique_name("godel_launcher"));
        fs::create_dir_all(&dir).expect("create the scratch folder");
        Self(dir)
    }

    /// Writes an executable stand-in named `name`; `exit` makes it fail with that status.
    fn standin(&self, name: &str, exit: Option<u8>) -> PathBuf {
        let path = self.0.join(name);
        let script = match exit {
            Some(code) => STANDIN.replacen(
                "#!/bin/sh\n",
                &format!("#!/bin/sh\nSTANDIN_EXIT={code}\n"),
                1,
            ),
            None => STANDIN.to_owned(),
        };
        fs::write(&path, script).expect("write the stand-in");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nothing listens on (as far as one can tell).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port()
}

fn config(port: u16) -> LauncherConfig {
    let mut config = LauncherConfig::new(format!("ws://127.0.0.1:{port}"));
    config.probe_interval = Duration::from_millis(100);
    config.max_probe_interval = Duration::from_millis(500);
    config.probe_tries = 40;
    config
}

/// Whether `GET /health` answers 200 at `127.0.0.1:port`.
async fn health_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream
        .write_all(b"GET /health HTTP/1.0\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// Waits up to 5 s for `pid` to be gone (or a zombie).
async fn gone(pid: u32) -> bool {
    let alive = || {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or_default()
                .trim_start()
                .starts_with('Z')
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !alive()
}

fn reason(outcome: &LaunchOutcome) -> &str {
    match outcome {
        LaunchOutcome::Degraded { reason } => reason,
        other => panic!("expected degraded, got {other:?}"),
    }
}

#[tokio::test]
async fn a_gateway_already_answering_is_used_as_it_is() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    });
    let mut config = config(port);
    config.autostart = true;
    config.command = Some(GatewayCommand::new("/nonexistent/openclaw"));
    let outcome = DaemonLauncher::new(config).ensure().await;
    assert!(
        matches!(&outcome, LaunchOutcome::Running { endpoint } if endpoint.ends_with(&port.to_string())),
        "{outcome:?}"
    );
    assert!(outcome.is_available());
}

#[tokio::test]
async fn without_autostart_a_missing_gateway_means_degraded() {
    let outcome = DaemonLauncher::new(config(free_port())).ensure().await;
    assert!(reason(&outcome).contains("autostart is off"), "{outcome:?}");
    assert!(!outcome.is_available());
}

#[tokio::test]
async fn autostart_runs_the_configured_command_until_ready_and_stops_it() {
    let scratch = Scratch::new();
    let port = free_port();
    let mut config = config(port);
    config.autostart = true;
    config.command = Some(GatewayCommand::new(scratch.standin("my-gateway", None)));
    config.log_file = Some(scratch.0.join("gateway.log"));
    let outcome = DaemonLauncher::new(config).ensure().await;
    let LaunchOutcome::Started(gateway) = outcome else {
        panic!("expected a started gateway, got {outcome:?}");
    };
    assert!(gateway.command().ends_with("my-gateway"));
    assert_eq!(gateway.endpoint(), format!("ws://127.0.0.1:{port}"));
    assert!(health_ok(port).await);
    let pid = gateway.pid().expect("it runs in the foreground");
    assert!(gateway.stop().await, "stopped by SIGTERM");
    assert!(gone(pid).await);
    assert!(!health_ok(port).await);
}

#[tokio::test]
async fn without_a_command_path_candidates_are_tried_in_order() {
    let scratch = Scratch::new();
    scratch.standin("openclaw", Some(1));
    scratch.standin("openclawd", None);
    let port = free_port();
    let mut config = config(port);
    config.autostart = true;
    config.search_path = Some(scratch.0.clone().into_os_string());
    let outcome = DaemonLauncher::new(config).ensure().await;
    let LaunchOutcome::Started(gateway) = outcome else {
        panic!("expected openclawd to start, got {outcome:?}");
    };
    assert_eq!(
        Path::new(gateway.command()).file_name(),
        Some("openclawd".as_ref()),
        "openclaw failed, openclaws is missing, openclawd works"
    );
    let pid = gateway.pid().expect("a pid");
    drop(gateway);
    assert!(gone(pid).await, "dropping the handle stops the gateway");
}

#[tokio::test]
async fn nothing_on_the_search_path_means_degraded_naming_the_fix() {
    let scratch = Scratch::new();
    let mut config = config(free_port());
    config.autostart = true;
    config.search_path = Some(scratch.0.clone().into_os_string());
    let outcome = DaemonLauncher::new(config).ensure().await;
    assert!(
        reason(&outcome).contains("openclaw not found"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_command_that_fails_or_never_gets_ready_means_degraded() {
    let scratch = Scratch::new();
    let mut config = config(free_port());
    config.autostart = true;
    config.command = Some(GatewayCommand::new(scratch.standin("broken", Some(4))));
    let outcome = DaemonLauncher::new(config.clone()).ensure().await;
    assert!(
        reason(&outcome).contains("exited during start-up"),
        "{outcome:?}"
    );

    config.command =
        Some(GatewayCommand::new(scratch.standin("stuck", None)).env("STANDIN_NEVER_READY", "1"));
    config.probe_tries = 3;
    let began = Instant::now();
    let outcome = DaemonLauncher::new(config).ensure().await;
    assert!(
        reason(&outcome).contains("not ready after 3 probes"),
        "{outcome:?}"
    );
    assert!(began.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn remote_and_malformed_endpoints_are_not_started() {
    let mut remote = LauncherConfig::new("wss://gw.example.com:443");
    remote.autostart = true;
    let outcome = DaemonLauncher::new(remote).ensure().await;
    assert!(
        matches!(outcome, LaunchOutcome::Remote { .. }),
        "{outcome:?}"
    );

    let mut no_port = LauncherConfig::new("ws://127.0.0.1");
    no_port.autostart = true;
    let outcome = DaemonLauncher::new(no_port).ensure().await;
    assert!(reason(&outcome).contains("no port"), "{outcome:?}");
}

#[tokio::test]
async fn a_detached_gateway_outlives_its_handle() {
    let scratch = Scratch::new();
    let port = free_port();
    let mut config = config(port);
    config.autostart = true;
    config.command = Some(GatewayCommand::new(scratch.standin("daemon", None)));
    let LaunchOutcome::Started(gateway) = DaemonLauncher::new(config).ensure().await else {
        panic!("expected a started gateway");
    };
    let pid = gateway.pid().expect("a pid");
    gateway.detach();
    assert!(health_ok(port).await, "still serving after detach");
    // Clean up the process this test started, by its PID.
    let killed = std::process::Command::new("kill")
        .args(["-s", "TERM", "--", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    assert!(gone(pid).await);
}
