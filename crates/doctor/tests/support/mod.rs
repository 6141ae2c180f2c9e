//! What the doctor tests share: the doctor binary run as a user runs it and
//! an in-test Grafana speaking its HTTP API (Alertmanager: `testkit::alertmanager`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

/// The repository's root (crates/doctor/../..).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What one run of the doctor printed, and its exit code.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The line of check `name` with `symbol` (✔ ✘ –), and the hint line
    /// under it if any; panics with the whole report when absent.
    pub fn line(&self, symbol: &str, name: &str) -> (String, String) {
        let lines: Vec<&str> = self.stdout.lines().collect();
        let prefix = format!("  {symbol} {name} ");
        let index = lines
            .iter()
            .position(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no `{symbol} {name}` line in:\n{}", self.stdout));
        let hint = lines
            .get(index + 1)
            .filter(|line| line.trim_start().starts_with('→'))
            .map(|line| line.trim().to_owned())
            .unwrap_or_default();
        (lines[index].to_owned(), hint)
    }

    /// Asserts a ✘ line for `name` whose figure contains `figure` and whose
    /// hint contains `hint` and a link into docs/.
    pub fn assert_failed(&self, name: &str, figure: &str, hint: &str) {
        let (line, hint_line) = self.line("✘", name);
        assert!(
            line.contains(figure),
            "`{name}` should say {figure:?}: {line}\n{}",
            self.stdout
        );
        assert!(
            hint_line.contains(hint),
            "`{name}`'s hint should say {hint:?}: {hint_line}\n{}",
            self.stdout
        );
        assert!(
            hint_line.contains("[docs/"),
            "hint without a link: {hint_line}"
        );
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", self.stdout))
    }
}

/// Runs the doctor binary with exactly `env` (plus PATH and NO_COLOR), from
/// a directory without `.env`, with a generous per-request timeout for a
/// loaded machine. Blocking: call through [`doctor`].
fn run_blocking(env: Vec<(String, String)>, args: Vec<String>) -> Run {
    let mut command = Command::new(testkit::binary("doctor"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .envs(env)
        .arg("--timeout")
        .arg("10s")
        .args(args)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null());
    let output = command.output().expect("run doctor");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// [`run_blocking`] off the runtime (the in-test peers keep serving).
pub async fn doctor(env: &BTreeMap<String, String>, args: &[&str]) -> Run {
    let env: Vec<(String, String)> = env.clone().into_iter().collect();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || run_blocking(env, args))
        .await
        .expect("doctor thread")
}

/// An in-test Grafana: `/api/health`, `/api/datasources` and
/// `/api/datasources/uid/<uid>/health` behind basic auth, `/api/search`
/// listing the repository's dashboards, as Grafana 11 answers them. A
/// datasource can be made to fail its health check.
pub struct Grafana {
    pub url: String,
    failing: Arc<Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct GrafanaState {
    authorization: String,
    failing: Arc<Mutex<Vec<String>>>,
}

/// The provisioned datasources (infrastructure/grafana/provisioning).
const DATASOURCES: [(&str, &str, &str, &str); 4] = [
    ("loki", "Loki", "loki", "http://loki:3100"),
    (
        "prometheus",
        "Prometheus",
        "prometheus",
        "http://prometheus:9090",
    ),
    ("tempo", "Tempo", "tempo", "http://tempo:3200"),
    (
        "alertmanager",
        "Alertmanager",
        "alertmanager",
        "http://alertmanager:9093",
    ),
];

impl Grafana {
    pub async fn start(user: &str, password: &str) -> Self {
        // The header a client sends for these credentials.
        let authorization = testkit::http_client()
            .get("http://grafana.invalid/")
            .basic_auth(user, Some(password))
            .build()
            .unwrap()
            .headers()["authorization"]
            .to_str()
            .unwrap()
            .to_owned();
        let failing = Arc::new(Mutex::new(Vec::new()));
        let state = GrafanaState {
            authorization,
            failing: Arc::clone(&failing),
        };
        let app = Router::new()
            .route(
                "/api/health",
                get(|| async {
                    Json(json!({"commit": "test", "database": "ok", "version": "11.4.0"}))
                }),
            )
            .route("/api/datasources", get(datasources))
            .route("/api/datasources/uid/{uid}/health", get(datasource_health))
            .route("/api/search", get(search))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            failing,
            server,
        }
    }

    /// Makes the datasource `uid` fail its health check.
    pub fn fail_datasource(&self, uid: &str) {
        self.failing.lock().unwrap().push(uid.to_owned());
    }
}

impl Drop for Grafana {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Grafana's 401 when the credentials are not the admin's.
fn refusal(state: &GrafanaState, headers: &HeaderMap) -> Option<Response> {
    let sent = headers.get("authorization").and_then(|v| v.to_str().ok());
    (sent != Some(state.authorization.as_str())).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Invalid username or password"})),
        )
            .into_response()
    })
}

async fn datasources(State(state): State<GrafanaState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    let list: Vec<Value> = DATASOURCES
        .iter()
        .enumerate()
        .map(|(id, (uid, name, kind, url))| {
            json!({"id": id + 1, "uid": uid, "name": name, "type": kind, "url": url, "access": "proxy", "readOnly": true})
        })
        .collect();
    Json(list).into_response()
}

async fn datasource_health(
    State(state): State<GrafanaState>,
    headers: HeaderMap,
    UrlPath(uid): UrlPath<String>,
) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    let Some((_, name, _, _)) = DATASOURCES.iter().find(|(u, ..)| *u == uid) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Data source not found"})),
        )
            .into_response();
    };
    if state.failing.lock().unwrap().contains(&uid) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "status": "ERROR",
                "message": format!("Unable to connect with {name}. Please check the server logs for more details."),
            })),
        )
            .into_response();
    }
    Json(json!({"status": "OK", "message": "Data source successfully connected."})).into_response()
}

/// The repository's dashboards, as `/api/search?type=dash-db` lists them.
async fn search(State(state): State<GrafanaState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    let dir = repo().join("infrastructure/grafana/dashboards");
    let mut list = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "json") {
            let dashboard: Value =
                serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
            list.push(
                json!({"uid": dashboard["uid"], "title": dashboard["title"], "type": "dash-db"}),
            );
        }
    }
    Json(list).into_response()
}
