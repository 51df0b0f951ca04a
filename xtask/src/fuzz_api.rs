//! `cargo xtask fuzz-api`: schemathesis against the served OpenAPI document.
//!
//! Installs schemathesis (pinned) into a virtualenv at `target/fuzz-api-venv` when missing,
//! builds and starts `godel-server --dev` on a free loopback port with a fresh data folder
//! (unless `--url` names a running server), reads its admin key, and runs `st run` twice
//! against `<url>/api/v1/openapi.json`: once with the admin key (`X-API-Key`) and once without
//! credentials (schemathesis then sends random keys and tokens, or none: every answer must be
//! a documented 401). Every check is on in both runs, except the ones excluded below with their
//! reason; the authenticated run leaves out instance registration (it dials the endpoint), and
//! a hooks file ([`HOOKS`]) drops only the acceptance failures whose rule no schema can state.
//! Fails when either run finds a failure. The server is stopped by its PID at the end,
//! also on error. Reports (JUnit XML) and the server's log go to `target/fuzz-api/`.
//! Needs `python3` (3.9 or later, with `venv`) and PyPI, or an existing virtualenv.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;

use crate::{cargo, display, project_root, run_command};

/// The schemathesis release this command is written against (its CLI changes between
/// majors).
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// How long the server gets to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server gets to drain after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// One schemathesis run must end within this (it is bounded by `--examples`; this is a
/// safety net against a hung server).
const RUN_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// Command line of `cargo xtask fuzz-api`.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask fuzz-api",
    about = "Fuzz the HTTP API with schemathesis against the served OpenAPI document"
)]
struct Args {
    /// Most test cases per API operation in each phase (schemathesis `--max-examples`).
    #[arg(long, default_value_t = 100)]
    examples: u32,
    /// Fuzz the server already running at this origin (e.g. `http://127.0.0.1:7373`) instead
    /// of starting one.
    #[arg(long, requires = "key")]
    url: Option<String>,
    /// An admin API key of the server at `--url`.
    #[arg(long, requires = "url")]
    key: Option<String>,
    /// Seed of the generated data, so a failing run can be repeated.
    #[arg(long, default_value_t = 7373)]
    seed: u64,
    /// Concurrent schemathesis workers (more than one trips a CPython 3.11 bug in the AST
    /// parsing hypothesis does, seen as "AST constructor recursion depth mismatch").
    #[arg(long, default_value_t = 1)]
    workers: u32,
    /// Also run the stateful phase (sequences of calls following the document's links);
    /// slower.
    #[arg(long)]
    stateful: bool,
}

/// Loaded by schemathesis (`SCHEMATHESIS_HOOKS`). Drops the few "schema-valid request
/// rejected" failures whose rule no schema can state because it depends on the server's state
/// or clock, matched by the exact message of the 400; everything else still fails the run.
/// Also works around a schemathesis bug: its coverage phase draws any string for
/// `type: [string, null]` with a `format` (e.g. `""` for a nullable UUID), so such schemas
/// are handed to it as the equivalent `anyOf` of the formatted string and `null`.
const HOOKS: &str = r#"# Godel's fuzz-run hooks, written by `cargo xtask fuzz-api`.
import schemathesis

# 400 messages of rules no JSON Schema can state: a cursor is opaque (only the server's own
# are valid); `scheduled_at` may be at most a year ahead of now; an integer must be written
# without a fraction (JSON Schema's `integer` admits `3.0`, Rust's integers do not).
UNSTATABLE_RULES = (
    "cursor: not a cursor",
    "invalid cursor: not a cursor",
    "invalid scheduled_at: more than a year ahead",
)
FRACTION_REFUSED = "invalid type: floating point"


def split_nullable_formats(node):
    if isinstance(node, list):
        for item in node:
            split_nullable_formats(item)
        return
    if not isinstance(node, dict):
        return
    for value in list(node.values()):
        split_nullable_formats(value)
    types = node.get("type")
    if isinstance(types, list) and "null" in types and "format" in node:
        others = [t for t in types if t != "null"]
        formatted = {k: v for k, v in node.items() if k != "description"}
        formatted["type"] = others[0] if len(others) == 1 else others
        for key in list(formatted):
            if key != "description":
                node.pop(key, None)
        node["anyOf"] = [formatted, {"type": "null"}]


@schemathesis.hook
def before_load_schema(context, raw_schema):
    split_nullable_formats(raw_schema)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if getattr(failure, "code", None) != "ST202" or response.status_code != 400:
        return True
    try:
        message = response.json()["error"]["message"]
    except Exception:
        return True
    return not (message.startswith(UNSTATABLE_RULES) or FRACTION_REFUSED in message)
"#;

/// Operations the authenticated run leaves out, each with its reason.
const EXCLUDED_OPERATIONS: &[(&str, &str)] = &[
    // Registering an instance makes the server open a WebSocket to the generated endpoint: the
    // fuzzer must never make it connect anywhere but loopback. The anonymous run still
    // covers them (refused with 401 before any connection).
    ("instances_register", "dials the generated endpoint"),
    ("instances_register_pi", "dials the generated endpoint"),
];

/// One of the two schemathesis runs.
struct Run {
    /// Its name, also its report folder.
    name: &'static str,
    /// The API key sent with every request, if any.
    key: Option<String>,
    /// Checks left out, each with the reason it does not apply to this run.
    excluded: &'static [(&'static str, &'static str)],
    /// Operation ids left out, each with the reason.
    skipped: &'static [(&'static str, &'static str)],
}

/// Runs the fuzz run with `args` (see `cargo xtask fuzz-api --help`).
pub(crate) fn run(args: &[String]) -> Result<()> {
    let args = Args::try_parse_from(
        std::iter::once("cargo xtask fuzz-api".to_owned()).chain(args.iter().cloned()),
    )
    .map_err(|e| {
        // `--help` and usage errors print themselves.
        let _ = e.print();
        anyhow::anyhow!("bad arguments for fuzz-api")
    })?;
    let began = Instant::now();
    let out = project_root().join("target").join("fuzz-api");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let st = install_schemathesis()?;
    let hooks = out.join("hooks.py");
    fs::write(&hooks, HOOKS).with_context(|| format!("writing {}", hooks.display()))?;
    let install_time = began.elapsed();

    // Kept alive until the end: dropping it stops the server, also on an early return.
    let mut server = None;
    let (origin, key) = match (&args.url, &args.key) {
        (Some(url), Some(key)) => (url.trim_end_matches('/').to_owned(), key.clone()),
        _ => {
            let started = Server::start(&out)?;
            let pair = (started.origin.clone(), started.admin_key()?);
            server = Some(started);
            pair
        }
    };

    let runs = [
        Run {
            name: "authenticated",
            key: Some(key),
            excluded: &[],
            skipped: EXCLUDED_OPERATIONS,
        },
        Run {
            name: "anonymous",
            key: None,
            excluded: &[
                // Without a credential every request, however valid, is rightly refused
                // with 401; "valid data is accepted" cannot hold. The authenticated run
                // checks it.
                (
                    "positive_data_acceptance",
                    "every request is refused with 401",
                ),
            ],
            skipped: &[],
        },
    ];
    let mut failed = Vec::new();
    let mut times = Vec::new();
    for run in &runs {
        let step = Instant::now();
        let mut cmd = schemathesis(&st, &origin, run, &args, &out.join(run.name));
        cmd.env("SCHEMATHESIS_HOOKS", &hooks).current_dir(&out);
        println!("fuzz-api: {} run", run.name);
        if let Err(e) = run_bounded(&mut cmd, run.key.as_deref()) {
            eprintln!("fuzz-api: {} run failed: {e:#}", run.name);
            failed.push(run.name);
        }
        times.push(format!(
            "{} {:.1} s",
            run.name,
            step.elapsed().as_secs_f64()
        ));
    }
    drop(server);
    println!(
        "fuzz-api: schemathesis {SCHEMATHESIS_VERSION}, {} examples, seed {}: install {:.1} s, {}, total {:.1} s; reports in {}",
        args.examples,
        args.seed,
        install_time.as_secs_f64(),
        times.join(", "),
        began.elapsed().as_secs_f64(),
        out.display(),
    );
    if !failed.is_empty() {
        bail!(
            "schemathesis found failures in the {} run(s)",
            failed.join(" and ")
        );
    }
    Ok(())
}

/// The virtualenv's `st`, creating the virtualenv and installing schemathesis when missing.
fn install_schemathesis() -> Result<PathBuf> {
    let venv = project_root().join("target").join("fuzz-api-venv");
    let st = venv.join("bin").join("st");
    if st_version(&st).as_deref() == Some(SCHEMATHESIS_VERSION) {
        return Ok(st);
    }
    if !venv.join("bin").join("python").is_file() {
        let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
        run_command(Command::new(python).arg("-m").arg("venv").arg(&venv))
            .context("creating the virtualenv (is python3-venv installed?)")?;
    }
    run_command(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}")),
    )
    .context("installing schemathesis with pip")?;
    match st_version(&st) {
        Some(v) if v == SCHEMATHESIS_VERSION => Ok(st),
        other => bail!(
            "{} reports version {other:?}, expected {SCHEMATHESIS_VERSION}; delete {} and retry",
            st.display(),
            venv.display()
        ),
    }
}

/// The version `st --version` reports (`st, version X`).
fn st_version(st: &Path) -> Option<String> {
    let out = Command::new(st).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status
        .success()
        .then(|| text.trim().rsplit(' ').next().map(str::to_owned))
        .flatten()
}

/// The `st run` command of `run`, writing its JUnit report under `report`.
fn schemathesis(st: &Path, origin: &str, run: &Run, args: &Args, report: &Path) -> Command {
    let mut phases = vec!["examples", "coverage", "fuzzing"];
    if args.stateful {
        phases.push("stateful");
    }
    let mut cmd = Command::new(st);
    cmd.arg("run")
        .arg(format!("{origin}/api/v1/openapi.json"))
        .args(["--url", origin])
        .args(["--checks", "all"])
        .args(["--phases", &phases.join(",")])
        .args(["--max-examples", &args.examples.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--workers", &args.workers.to_string()])
        .args(["--request-timeout", "10"])
        // No example database: the seed alone decides what is generated.
        .args(["--generation-database", "none"])
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(report)
        .arg("--no-color");
    let excluded: Vec<&str> = run.excluded.iter().map(|(check, _)| *check).collect();
    if !excluded.is_empty() {
        cmd.args(["--exclude-checks", &excluded.join(",")]);
    }
    for (operation, _) in run.skipped {
        cmd.args(["--exclude-operation-id", operation]);
    }
    if let Some(key) = &run.key {
        // Only this key: a generated `Authorization` header would take precedence and make
        // every request a 401. The anonymous run sends generated credentials.
        cmd.args(["--header", &format!("X-API-Key: {key}")])
            .args(["--generation-with-security-parameters", "false"]);
    }
    cmd
}

/// Runs `cmd` with inherited output, killed at [`RUN_DEADLINE`]; `secret` is hidden from the
/// command line shown.
fn run_bounded(cmd: &mut Command, secret: Option<&str>) -> Result<()> {
    let mut shown = display(cmd);
    if let Some(secret) = secret {
        shown = shown.replace(secret, "***");
    }
    println!("$ {shown}");
    let mut child = cmd
        .spawn()
        .with_context(|| format!("failed to start `{shown}`"))?;
    let deadline = Instant::now() + RUN_DEADLINE;
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("`st run` failed ({status})");
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`st run` did not end within {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A `godel-server --dev` this command started; stopped by its PID and its data folder
/// removed when dropped.
struct Server {
    child: Child,
    data_dir: PathBuf,
    origin: String,
}

impl Server {
    /// Builds and starts the server on a free loopback port; its log goes to `out`.
    fn start(out: &Path) -> Result<Self> {
        run_command(&mut cargo(["build", "-p", "godel-server"]))?;
        let binary = target_dir()?.join("debug").join("godel-server");
        let data_dir = std::env::temp_dir().join(format!("godel-fuzz-api-{}", std::process::id()));
        if data_dir.exists() {
            fs::remove_dir_all(&data_dir)
                .with_context(|| format!("clearing {}", data_dir.display()))?;
        }
        fs::create_dir_all(&data_dir)?;
        let log_path = out.join("server.log");
        let log = fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let mut cmd = Command::new(&binary);
        cmd.args(["--dev", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            // No stray `godel.toml` from the caller's folder.
            .current_dir(&data_dir)
            // The fuzzer sends thousands of requests with one key: a limit it hits would only
            // turn them into 429s and test less.
            .env("GODEL_RATE_PER_SECOND", "1000000")
            .env("GODEL_RATE_BURST", "1000000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        println!("$ {}", display(&cmd));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take();
        // From here on, dropping `server` stops the child.
        let mut server = Self {
            child,
            data_dir,
            origin: String::new(),
        };
        let (lines, seen) = mpsc::channel();
        if let Some(stdout) = stdout {
            // Reads the whole output so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = lines.send(line);
                }
            });
        }
        let deadline = Instant::now() + START_TIMEOUT;
        while server.origin.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match seen.recv_timeout(left) {
                Ok(line) => {
                    if let Some((_, url)) = line.split_once("listening on ") {
                        server.origin = url.trim().trim_end_matches('/').to_owned();
                    }
                }
                Err(_) => bail!(
                    "godel-server printed no address within {START_TIMEOUT:?}; see {}",
                    log_path.display()
                ),
            }
        }
        println!(
            "fuzz-api: godel-server (pid {}) at {}",
            server.child.id(),
            server.origin
        );
        Ok(server)
    }

    /// The admin key the server wrote on its first start.
    fn admin_key(&self) -> Result<String> {
        let path = self.data_dir.join("admin.key");
        let key =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let key = key.trim();
        if key.is_empty() {
            bail!("{} is empty", path.display());
        }
        Ok(key.to_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id();
        // SIGTERM first so the server drains and exits cleanly; SIGKILL after the grace.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        let exited = loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break true,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => break false,
            }
        };
        if !exited {
            eprintln!("fuzz-api: godel-server (pid {pid}) did not stop on SIGTERM; killing it");
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = fs::remove_dir_all(&self.data_dir);
        println!("fuzz-api: stopped godel-server (pid {pid})");
    }
}

/// Cargo's target folder (honours `CARGO_TARGET_DIR` and cargo's configuration).
fn target_dir() -> Result<PathBuf> {
    let out = cargo(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed ({})", out.status);
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading cargo metadata")?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata has no target_directory")
}
