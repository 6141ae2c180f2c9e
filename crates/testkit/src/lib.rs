//! Test support shared by the integration tests of every crate: spawn a
//! service binary as a real process on an ephemeral port, wait by polling
//! with a deadline (never a fixed sleep), and clean up every process started.

pub mod alertmanager;
pub mod discord;
pub mod logql;
pub mod loki;
pub mod lossy_proxy;
pub mod otlp;
pub mod postgres;
pub mod prometheus;
pub mod recorder;

use std::{
    io::{BufRead, BufReader, Read},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

/// How long a test waits for a service to answer before failing.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// A free TCP port on loopback (bound then released: the kernel does not
/// hand it out again immediately).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|error| panic!("cannot reserve a port: {error}"))
}

/// Path of a workspace binary built into the same target directory as the
/// running test or tool (`target/<profile>/<name>`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|error| panic!("current_exe: {error}"));
    // A test runs from target/<profile>/deps/, a tool (bin) from target/<profile>/.
    let dir = exe
        .parent()
        .unwrap_or_else(|| panic!("unexpected executable path {}", exe.display()));
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A memory field of `/proc/<pid>/status`, in KiB: `VmRSS` (resident now)
/// or `VmHWM` (resident peak).
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    let path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {path}: {error}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {path}"))
}

/// Polls `check` until it returns `Some`, or panics with `what` at the deadline.
pub async fn poll_until<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// A plain HTTP client for tests (no proxy, short timeout).
/// Sends `request` and returns its status, headers and JSON body (panics,
/// naming the status and the text, when the body is not JSON).
pub async fn send_json(
    request: reqwest::RequestBuilder,
) -> (
    reqwest::StatusCode,
    reqwest::header::HeaderMap,
    serde_json::Value,
) {
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("the service does not answer: {error}"));
    let status = response.status();
    let headers = response.headers().clone();
    let text = response
        .text()
        .await
        .unwrap_or_else(|error| panic!("{status}: body: {error}"));
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: body is not JSON: {text}"));
    (status, headers, body)
}

pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|error| panic!("reqwest client: {error}"))
}

/// Output captured from a child process, line by line.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    /// Appends every line of `stream` from a background thread, which ends
    /// when the stream closes.
    pub fn capture(self, stream: impl Read + Send + 'static) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(mut lines) = self.0.lock() {
                    lines.push(line);
                }
            }
        })
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|lines| lines.clone()).unwrap_or_default()
    }

    pub fn text(&self) -> String {
        self.lines().join("\n")
    }
}

/// A running service process; killed (and reaped) when dropped.
pub struct Service {
    pub name: String,
    pub port: u16,
    child: Child,
    pub stdout: Output,
    pub stderr: Output,
    /// Its own working directory (removed when it stops): the default
    /// SQLite file (`./data/backend.db`) is never shared between tests.
    workdir: std::path::PathBuf,
}

/// Builder for a [`Service`]: the binary plus its environment.
pub struct ServiceBuilder {
    name: String,
    command: Command,
    port: u16,
    workdir: std::path::PathBuf,
}

/// A fresh empty directory under the system's temporary directory.
fn fresh_workdir(name: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("testkit-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
    dir
}

impl ServiceBuilder {
    /// A workspace binary on a fresh loopback port (passed as `PORT`), with
    /// no colour, development defaults and a throwaway `.env`-free cwd.
    pub fn new(name: &str) -> Self {
        Self::with_program(name, binary(name), &[])
    }

    /// As [`ServiceBuilder::new`], but runs `program` with `args` (e.g. the
    /// shell wrapper a manifest starts the binary through).
    pub fn with_program(name: &str, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Self {
        let port = free_port();
        let workdir = fresh_workdir(name);
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("NO_COLOR", "1")
            .env("ENVIRONMENT", "development")
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Self {
            name: name.to_owned(),
            command,
            port,
            workdir,
        }
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Listens on `port` instead of a fresh one (to restart a service on
    /// the address its clients know).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self.command.env("PORT", port.to_string());
        self
    }

    /// Sends the service's stdout to `file` instead of capturing it (what a
    /// log collector reading a container's output sees).
    pub fn stdout_to_file(mut self, file: std::fs::File) -> Self {
        self.command.stdout(file);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    pub fn spawn(mut self) -> Service {
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot spawn {}: {error}", self.name));
        let stdout = Output::default();
        let stderr = Output::default();
        if let Some(out) = child.stdout.take() {
            drop(stdout.clone().capture(out));
        }
        if let Some(err) = child.stderr.take() {
            drop(stderr.clone().capture(err));
        }
        Service {
            name: self.name,
            port: self.port,
            child,
            stdout,
            stderr,
            workdir: self.workdir,
        }
    }
}

impl Service {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET path` answers with `status`.
    pub async fn wait_for_status(&mut self, path: &str, status: u16) {
        self.wait_for_status_every(path, status, Duration::from_millis(20))
            .await;
    }

    /// [`Service::wait_for_status`], polling every `pause` (short to time a
    /// startup).
    pub async fn wait_for_status_every(&mut self, path: &str, status: u16, pause: Duration) {
        let client = http_client();
        let url = self.url(path);
        let name = self.name.clone();
        let what = format!("{name} to answer {status} on {path}");
        let start = Instant::now();
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status().as_u16() == status
            {
                return;
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!(
                    "{name} exited ({exit}) before answering on {path}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout.text(),
                    self.stderr.text()
                );
            }
            assert!(
                start.elapsed() < STARTUP_DEADLINE,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(pause).await;
        }
    }

    /// [`memory_kib`] of the process, in MiB.
    pub fn memory_mib(&self, field: &str) -> f64 {
        memory_kib(self.pid(), field) as f64 / 1024.0
    }

    /// `GET path`'s body as text, whatever the status (e.g. `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        let url = self.url(path);
        let response = http_client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {url}: {error}"));
        response
            .text()
            .await
            .unwrap_or_else(|error| panic!("GET {url}: body: {error}"))
    }

    /// `GET path`'s body as JSON, whatever the status (e.g. `/ready`).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let text = self.get_text(path).await;
        serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("GET {path}: not JSON ({error}): {text}"))
    }

    /// Waits until `/live` answers 200.
    pub async fn wait_live(&mut self) {
        self.wait_for_status("/live", 200).await;
    }

    /// Sends `signal` (e.g. "TERM", "INT") to the process.
    pub fn signal(&self, signal: &str) {
        send_signal(self.child.id(), signal);
    }

    /// Waits for the process to exit, up to `deadline`.
    pub fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        wait_exit(&mut self.child, deadline)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

/// True when every one of `tools` is on `PATH`. When one is not, the test
/// calling this skips with a loud message, except under `CI=true` where the
/// missing tool is a failure (`make test` installs it, from Debian's
/// `package`).
pub fn tools_available(tools: &[&str], package: &str) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| !on_path(tool))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{} not installed (Debian package `{package}`; scripts/install-test-deps.sh installs it)",
        missing.join(" and ")
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}: required when CI=true"
    );
    eprintln!("\n!!! SKIPPED: {message} !!!\n");
    false
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Sends a signal by name through `kill(1)` (keeps the workspace free of
/// `unsafe`).
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "kill -{signal} {pid} failed"
    );
}

/// Waits for `child` to exit, polling, up to `deadline` (panics after).
pub fn wait_exit(child: &mut Child, deadline: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if start.elapsed() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                panic!("process {} did not exit within {deadline:?}", child.id());
            }
            Err(error) => panic!("waiting for process {}: {error}", child.id()),
        }
    }
}

/// Runs a binary to completion with `env` (for configuration errors).
pub fn run_to_exit(name: &str, env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut command = Command::new(binary(name));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot spawn {name}: {error}"));
    let stderr = Output::default();
    let reader = child.stderr.take().map(|err| stderr.clone().capture(err));
    let status = wait_exit(&mut child, STARTUP_DEADLINE);
    // The pipe closes with the process: the reader ends once it has drained.
    if let Some(reader) = reader {
        let _ = reader.join();
    }
    (status, stderr.text())
}

/// Asserts that `name`, started with `env` set to a bad value, exits with
/// code 2 and one stderr line naming the variable and the value.
pub fn assert_config_error(name: &str, var: &str, value: &str) {
    let (status, stderr) = run_to_exit(name, &[(var, value)]);
    assert_eq!(
        status.code(),
        Some(2),
        "{name} with {var}={value:?} should exit 2, got {status}; stderr:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got:\n{stderr}");
    assert!(
        lines[0].contains(var) && lines[0].contains(value),
        "stderr should name {var} and {value:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "must not panic: {stderr}");
}
