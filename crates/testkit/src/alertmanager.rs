//! A real Alertmanager for tests: the Debian package's binary
//! (`prometheus-alertmanager`, or `alertmanager`) on a loopback port, its
//! configuration rendered by `infrastructure/alertmanager/render.sh` from the
//! environment the test gives, exactly as the compose files start it; plus a
//! webhook receiver recording what Alertmanager sends.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use serde_json::Value;

use crate::{Output, free_port, http_client, poll_until};

const BINARIES: [&str; 2] = ["prometheus-alertmanager", "alertmanager"];

/// The repository's `infrastructure/alertmanager`.
pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infrastructure/alertmanager")
}

fn binary() -> Option<&'static str> {
    BINARIES.into_iter().find(|name| {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
    })
}

/// True when Alertmanager is installed. When it is not, a test skips with a
/// loud message, except under `CI=true` where it fails.
pub fn available() -> bool {
    if binary().is_some() {
        return true;
    }
    let message = "alertmanager not installed (Debian package `prometheus-alertmanager`; \
                   scripts/install-test-deps.sh installs it)";
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}: required when CI=true"
    );
    eprintln!("\n!!! SKIPPED: {message} !!!\n");
    false
}

/// `render.sh`'s output for `env` (the ALERT_* variables).
pub fn render_config(env: &[(&str, &str)]) -> String {
    let dir = config_dir();
    let output = Command::new("sh")
        .arg(dir.join("render.sh"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ALERTMANAGER_TEMPLATES", dir.join("templates"))
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|error| panic!("cannot run render.sh: {error}"));
    assert!(
        output.status.success(),
        "render.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A running Alertmanager; killed when dropped.
pub struct Alertmanager {
    pub port: u16,
    child: Child,
    dir: PathBuf,
    pub stderr: Output,
}

impl Alertmanager {
    /// Renders the configuration from `env` and starts Alertmanager on it.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let binary = binary().unwrap_or_else(|| panic!("alertmanager not installed"));
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "testkit-alertmanager-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        let config = dir.join("alertmanager.yml");
        std::fs::write(&config, render_config(env))
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", config.display()));
        let mut child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // One instance, no gossip port.
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot spawn {binary}: {error}"));
        let stderr = Output::default();
        if let Some(err) = child.stderr.take() {
            drop(stderr.clone().capture(err));
        }
        let alertmanager = Self {
            port,
            child,
            dir,
            stderr,
        };
        let ready = alertmanager.url("/-/ready");
        let client = http_client();
        poll_until(Duration::from_secs(30), "alertmanager to be ready", || {
            let (client, ready) = (client.clone(), ready.clone());
            async move {
                let answered = client.get(&ready).send().await;
                answered
                    .is_ok_and(|response| response.status().is_success())
                    .then_some(())
            }
        })
        .await;
        alertmanager
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An HTTP endpoint recording every JSON body POSTed to it (what a webhook
/// receiver of Alertmanager gets). Stops when dropped.
pub struct WebhookReceiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("cannot bind the webhook receiver: {error}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("local_addr: {error}"))
            .port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let app =
            Router::new()
                .route(
                    "/",
                    post(
                        |State(received): State<Arc<Mutex<Vec<Value>>>>,
                         Json(body): Json<Value>| async move {
                            if let Ok(mut all) = received.lock() {
                                all.push(body);
                            }
                        },
                    ),
                )
                .with_state(Arc::clone(&received));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            port,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Every notification received so far.
    pub fn received(&self) -> Vec<Value> {
        self.received
            .lock()
            .map(|all| all.clone())
            .unwrap_or_default()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
