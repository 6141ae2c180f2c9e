//! A throwaway PostgreSQL cluster for storage tests: `initdb` into a temp
//! directory, `pg_ctl start` on a loopback port, one database per test,
//! stopped and deleted on drop.
//!
//! PostgreSQL refuses to run as root: when the tests run as root (CI
//! containers), every server command runs as the `postgres` system user
//! through `runuser`, in a directory that user owns.
//!
//! Without PostgreSQL installed, [`PgCluster::start_or_skip`] says so loudly
//! and returns `None`, unless `CI=true`, where it fails the test.

use std::{
    path::PathBuf,
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

/// A running cluster; stopped (immediately) and removed when dropped.
pub struct PgCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    run_as_postgres: bool,
    databases: AtomicU32,
}

impl PgCluster {
    /// Starts a cluster, or returns `None` after a loud message when the
    /// PostgreSQL server binaries are missing (a failure under `CI=true`).
    pub fn start_or_skip(test: &str) -> Option<Self> {
        let Some(bin) = server_bin_dir() else {
            let message = format!(
                "SKIPPED {test}: PostgreSQL server binaries (initdb, pg_ctl) not found; \
                 install them with scripts/install-test-deps.sh"
            );
            assert!(!is_ci(), "{message} (CI=true: PostgreSQL tests must run)");
            eprintln!("{message}");
            return None;
        };
        Some(Self::start(bin))
    }

    fn start(bin: PathBuf) -> Self {
        static CLUSTERS: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "testkit-pg-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("create {}: {error}", dir.display()));
        let run_as_postgres = is_root();
        if run_as_postgres {
            checked(
                Command::new("chown").arg("postgres:").arg(&dir),
                "chown the cluster directory to postgres",
            );
        }
        let cluster = Self {
            port: crate::free_port(),
            bin,
            dir,
            run_as_postgres,
            databases: AtomicU32::new(0),
        };
        let data = cluster.data_dir();
        checked(
            &mut cluster.server_command(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
            ),
            "initdb",
        );
        cluster.start_server();
        cluster
    }

    /// Starts the server on the cluster's port (again, after [`Self::stop`]).
    pub fn start_server(&self) {
        // Durability is pointless for a throwaway cluster: fsync off is faster.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let data = self.data_dir();
        let log = self.dir.join("server.log").display().to_string();
        let started = self
            .server_command(
                "pg_ctl",
                &[
                    "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
                ],
            )
            .output();
        if !started.as_ref().is_ok_and(|out| out.status.success()) {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("pg_ctl start failed: {started:?}\nserver log:\n{log}");
        }
    }

    /// Stops the server, cutting every connection (a database outage).
    pub fn stop(&self) {
        let data = self.data_dir();
        checked(
            &mut self.server_command("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]),
            "pg_ctl stop",
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a fresh, empty database and returns its `postgres://` URL.
    pub fn create_database(&self) -> String {
        let name = format!("test_{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let port = self.port.to_string();
        checked(
            &mut self.server_command(
                "createdb",
                &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", &name],
            ),
            "createdb",
        );
        self.url(&name)
    }

    /// The URL of database `name` (trust authentication, user `postgres`).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn server_command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .env("LC_ALL", "C")
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        command
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self
            .server_command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory holding `initdb` and `pg_ctl`: `PG_BIN` if set, else the
/// newest Debian `/usr/lib/postgresql/<version>/bin`, else `$PATH`.
fn server_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin);
    debian.or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        })
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn checked(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: cannot run: {error}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `CI=true`: a missing tool is a failure, not a skip.
fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value.eq_ignore_ascii_case("true"))
}
