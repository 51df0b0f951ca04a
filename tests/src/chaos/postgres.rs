//! [`OwnPostgres`]: a private PostgreSQL cluster (`initdb` into a temporary folder, `pg_ctl`
//! on a free loopback port, trust authentication) that a scenario stops with `-m immediate` (a
//! crash) and starts again. As root, every command runs as the `postgres` user (`runuser`),
//! since `initdb` refuses root. When the binaries are missing the scenario is skipped (or fails
//! under `GODEL_TEST_LIVE=require`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

use crate::chaos::free_port;
use crate::stores::unavailable;

/// A running private cluster.
#[derive(Debug)]
pub struct OwnPostgres {
    bin: PathBuf,
    /// The folder holding `data/`, the socket and the log (removed on drop).
    dir: TempDir,
    port: u16,
    as_postgres: bool,
    running: bool,
}

impl OwnPostgres {
    /// Creates and starts a cluster; `None` (skip) when PostgreSQL's server binaries are not
    /// installed.
    ///
    /// # Panics
    /// When they are missing under `GODEL_TEST_LIVE=require`, or when `initdb` or the start
    /// fails.
    #[must_use]
    pub fn start() -> Option<Self> {
        let Some(bin) = server_bin() else {
            return unavailable(
                "a PostgreSQL server",
                &"no /usr/lib/postgresql/*/bin/initdb on this machine",
            );
        };
        let as_postgres = rustix::process::geteuid().is_root();
        let dir = tempfile::Builder::new()
            .prefix("godel-chaos-pg-")
            .tempdir()
            .expect("a temporary folder");
        let mut cluster = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
            running: false,
        };
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:")
                .arg(cluster.dir.path())
                .output()
                .expect("run chown");
            assert!(chown.status.success(), "chown postgres: {chown:?}");
        }
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start_again();
        Some(cluster)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops it like a crash (`pg_ctl stop -m immediate`).
    pub fn stop_immediate(&mut self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        self.running = false;
    }

    /// Starts it again (crash recovery) and waits until it accepts connections.
    ///
    /// # Panics
    /// When it does not start.
    pub fn start_again(&mut self) {
        let data = self.data();
        let log = self.dir.path().join("postgres.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &log.to_string_lossy(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.running = true;
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    /// Runs one of the cluster's programs (as `postgres` when root); panics on failure.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
        assert!(
            output.status.success(),
            "{program} {args:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let path = self.bin.join("pg_ctl");
            let mut command = if self.as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&path);
                c
            } else {
                Command::new(&path)
            };
            let _ = command
                .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The `bin` folder of the newest PostgreSQL server installed under `/usr/lib/postgresql`.
fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            Path::new(&bin.join("initdb"))
                .is_file()
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}
