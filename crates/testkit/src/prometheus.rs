//! A real Prometheus for tests: the `prometheus` binary (Debian package) on a
//! loopback port with a throwaway storage directory and the scrape config the
//! test gives it, queried through its HTTP API; plus the extraction of every
//! PromQL expression from the Grafana dashboards and the rule files so a test
//! can send each one to it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use serde_json::Value;

use crate::{Output, free_port, http_client, poll_until};

/// How long Prometheus may take to become ready.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

/// True when `prometheus` and `promtool` are on `PATH`. When they are not, a
/// test skips with a loud message, except under `CI=true` where the missing
/// tool is a failure (`make test` installs them).
pub fn tools_available() -> bool {
    crate::tools_available(&["prometheus", "promtool"], "prometheus")
}

/// One scrape job of the generated configuration.
pub struct ScrapeJob {
    pub name: String,
    pub targets: Vec<String>,
}

impl ScrapeJob {
    pub fn new(name: &str, port: u16) -> Self {
        Self {
            name: name.to_owned(),
            targets: vec![format!("127.0.0.1:{port}")],
        }
    }
}

/// A Prometheus configuration: every job scraped at `interval`, rules
/// evaluated at the same pace, optional rule files (absolute paths).
pub fn scrape_config(interval: &str, jobs: &[ScrapeJob], rule_files: &[PathBuf]) -> String {
    let mut yaml = format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  evaluation_interval: {interval}\n"
    );
    if !rule_files.is_empty() {
        yaml.push_str("rule_files:\n");
        for file in rule_files {
            yaml.push_str(&format!("  - {:?}\n", file.display().to_string()));
        }
    }
    yaml.push_str("scrape_configs:\n");
    for job in jobs {
        yaml.push_str(&format!(
            "  - job_name: {:?}\n    static_configs:\n      - targets: [{}]\n",
            job.name,
            job.targets
                .iter()
                .map(|target| format!("{target:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    yaml
}

/// `promtool check config <path>`: Ok, or Err with promtool's output.
pub fn check_config(path: &Path) -> Result<(), String> {
    let output = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(path)
        .output()
        .map_err(|error| format!("cannot run promtool: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A running Prometheus; killed, and its directory removed, when dropped.
pub struct Prometheus {
    pub port: u16,
    child: Child,
    dir: PathBuf,
    pub stderr: Output,
    client: reqwest::Client,
}

/// The answer to an instant query.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// `vector`, `scalar`, `matrix` or `string`.
    pub result_type: String,
    /// One entry per series (labels, value); a scalar is one entry with no labels.
    pub samples: Vec<(BTreeMap<String, String>, String)>,
}

impl QueryResult {
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

static INSTANCE: AtomicU32 = AtomicU32::new(0);

impl Prometheus {
    /// Writes `config` to a fresh directory, checks it with `promtool check
    /// config` (panics with promtool's output if invalid), starts Prometheus on
    /// a loopback port and waits until `/-/ready` answers.
    pub async fn start(config: &str) -> Self {
        Self::start_on(free_port(), config).await
    }

    /// [`Prometheus::start`] with exemplar storage on, as in compose
    /// (`--enable-feature=exemplar-storage`).
    pub async fn start_with_exemplars(config: &str) -> Self {
        Self::start_with(
            free_port(),
            config,
            &["--enable-feature=exemplar-storage"],
            &[],
        )
        .await
    }

    /// [`Prometheus::start`] on a given port, for a config that scrapes
    /// Prometheus itself.
    pub async fn start_on(port: u16, config: &str) -> Self {
        Self::start_with(port, config, &[], &[]).await
    }

    /// [`Prometheus::start_on`] with extra flags (`--enable-feature=…`) and
    /// environment variables (what `expand-external-labels` reads).
    pub async fn start_with(port: u16, config: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "testkit-prometheus-{}-{}",
            std::process::id(),
            INSTANCE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", config_path.display()));
        if let Err(output) = check_config(&config_path) {
            panic!("promtool check config rejected the generated config:\n{output}\n---\n{config}");
        }

        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot spawn prometheus: {error}"));
        let stderr = Output::default();
        if let Some(err) = child.stderr.take() {
            drop(stderr.clone().capture(err));
        }
        let prometheus = Self {
            port,
            child,
            dir,
            stderr,
            client: http_client(),
        };
        let ready = prometheus.url("/-/ready");
        let client = prometheus.client.clone();
        let log = prometheus.stderr.clone();
        poll_until(READY_DEADLINE, "prometheus to be ready", || {
            let (client, ready, log) = (client.clone(), ready.clone(), log.clone());
            async move {
                let answered = client
                    .get(&ready)
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success());
                assert!(
                    !log.text().contains("level=error"),
                    "prometheus failed to start:\n{}",
                    log.text()
                );
                answered.then_some(())
            }
        })
        .await;
        prometheus
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Instant query at the current time: the result, or Prometheus' error
    /// message (`errorType: error`) for an invalid or failing expression.
    pub async fn query(&self, expr: &str) -> Result<QueryResult, String> {
        let response = self
            .client
            .post(self.url("/api/v1/query"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("query={}", form_encode(expr)))
            .send()
            .await
            .map_err(|error| format!("request failed: {error}"))?;
        let body: Value = response
            .json()
            .await
            .map_err(|error| format!("invalid JSON answer: {error}"))?;
        if body["status"] != "success" {
            return Err(format!(
                "{}: {}",
                body["errorType"].as_str().unwrap_or("error"),
                body["error"].as_str().unwrap_or("no message")
            ));
        }
        Ok(parse_result(&body["data"]))
    }

    /// `/api/v1/query_exemplars` for `expr` over the last `range`: the
    /// exemplars' label sets (e.g. `trace_id`), whatever series they belong to.
    pub async fn query_exemplars(
        &self,
        expr: &str,
        range: Duration,
    ) -> Result<Vec<BTreeMap<String, String>>, String> {
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|error| error.to_string())?
            .as_secs_f64();
        let start = end - range.as_secs_f64();
        let response = self
            .client
            .post(self.url("/api/v1/query_exemplars"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "query={}&start={start:.3}&end={:.3}",
                form_encode(expr),
                end + 1.0
            ))
            .send()
            .await
            .map_err(|error| format!("request failed: {error}"))?;
        let body: Value = response
            .json()
            .await
            .map_err(|error| format!("invalid JSON answer: {error}"))?;
        if body["status"] != "success" {
            return Err(format!("{}", body["error"]));
        }
        Ok(body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .map(|exemplar| {
                exemplar["labels"]
                    .as_object()
                    .map(|labels| {
                        labels
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect())
    }

    /// Waits until every scrape target of `jobs` is up; at the deadline, panics
    /// with each target's health and last scrape error (e.g. a 404 on
    /// `/metrics`), which says more than "timed out".
    pub async fn wait_for_targets_up(&self, jobs: &[&str], deadline: Duration) {
        let start = std::time::Instant::now();
        loop {
            let targets = self.targets().await;
            let wanted: Vec<&(String, String, String)> = targets
                .iter()
                .filter(|(job, _, _)| jobs.contains(&job.as_str()))
                .collect();
            let all_up = jobs.iter().all(|job| {
                wanted
                    .iter()
                    .any(|(j, health, _)| j == job && health == "up")
            });
            if all_up {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "scrape targets not all up after {deadline:?}: {wanted:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Active targets as (job, health, last error).
    pub async fn targets(&self) -> Vec<(String, String, String)> {
        let Ok(response) = self.client.get(self.url("/api/v1/targets")).send().await else {
            return Vec::new();
        };
        let body: Value = response.json().await.unwrap_or_default();
        body["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|target| {
                let text = |key: &str| target[key].as_str().unwrap_or_default().to_owned();
                (
                    target["labels"]["job"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    text("health"),
                    text("lastError"),
                )
            })
            .collect()
    }

    /// Polls `expr` until it returns at least one sample, or panics at the deadline
    /// with the last answer.
    pub async fn wait_for_data(&self, expr: &str, deadline: Duration) -> QueryResult {
        let what = format!("`{expr}` to return data");
        poll_until(deadline, &what, || async move {
            self.query(expr)
                .await
                .ok()
                .filter(|result| !result.is_empty())
        })
        .await
    }
}

/// `application/x-www-form-urlencoded` value encoding (reqwest's `form`
/// feature is not enabled in the workspace).
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                char::from(byte).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn parse_result(data: &Value) -> QueryResult {
    let result_type = data["resultType"].as_str().unwrap_or_default().to_owned();
    let samples = match &data["result"] {
        Value::Array(items) if result_type == "scalar" || result_type == "string" => {
            vec![(BTreeMap::new(), value_text(items.get(1)))]
        }
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let labels = item["metric"]
                    .as_object()
                    .map(|metric| {
                        metric
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                // A vector sample is `value: [t, "v"]`; a matrix has `values`.
                let value = item["value"]
                    .as_array()
                    .map(|pair| value_text(pair.get(1)))
                    .unwrap_or_default();
                (labels, value)
            })
            .collect(),
        _ => Vec::new(),
    };
    QueryResult {
        result_type,
        samples,
    }
}

fn value_text(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_default()
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PromQL expression found in a dashboard or a rule file.
#[derive(Debug, Clone)]
pub struct PromQuery {
    /// `dashboards/service-red.json` or `rules/alerts.yml`.
    pub file: String,
    /// Dashboard uid (empty for a rule file).
    pub dashboard: String,
    /// Title of the row the panel sits under (empty when none).
    pub row: String,
    /// Panel title and refId, or the alert/record name.
    pub name: String,
    /// The expression as written (Grafana variables included).
    pub expr: String,
}

/// Every Prometheus-datasource query of every dashboard under `dir`
/// (`*.json`). A panel's query uses Prometheus when its own datasource, or
/// else its panel's, has type `prometheus`.
pub fn dashboard_queries(dir: &Path) -> Vec<PromQuery> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut queries = Vec::new();
    for path in files {
        let file = format!(
            "dashboards/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        let dashboard: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{file} is not valid JSON: {error}"));
        let uid = dashboard["uid"].as_str().unwrap_or_default().to_owned();
        let mut row = String::new();
        let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
        for panel in panels {
            if panel["type"] == "row" {
                row = panel["title"].as_str().unwrap_or_default().to_owned();
            }
            let nested = panel["panels"].as_array().cloned().unwrap_or_default();
            for panel in std::iter::once(&panel).chain(nested.iter()) {
                let panel_type = panel["datasource"]["type"].as_str();
                for target in panel["targets"].as_array().into_iter().flatten() {
                    let target_type = target["datasource"]["type"].as_str().or(panel_type);
                    if target_type != Some("prometheus") {
                        continue;
                    }
                    queries.push(PromQuery {
                        file: file.clone(),
                        dashboard: uid.clone(),
                        row: row.clone(),
                        name: format!(
                            "{} [{}]",
                            panel["title"].as_str().unwrap_or_default(),
                            target["refId"].as_str().unwrap_or_default()
                        ),
                        expr: target["expr"].as_str().unwrap_or_default().to_owned(),
                    });
                }
            }
        }
    }
    queries
}

/// Every `expr:` of a Prometheus rule file, inline (`expr: up == 0`) or as a
/// block scalar (`expr: |` followed by more-indented lines). A line-based
/// reader rather than a YAML parser: the workspace has no YAML crate, and
/// promtool (in `make check-infra`) validates the files' structure.
pub fn rule_queries(path: &Path) -> Vec<PromQuery> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let file = format!(
        "rules/{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let lines: Vec<&str> = text.lines().collect();
    let mut queries = Vec::new();
    let mut name = String::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(value) = trimmed
            .strip_prefix("alert:")
            .or_else(|| trimmed.strip_prefix("record:"))
        {
            name = value.trim().to_owned();
        }
        if let Some(value) = trimmed.strip_prefix("expr:") {
            let value = value.trim();
            let expr = if value.starts_with('|') || value.starts_with('>') {
                let indent = line.len() - line.trim_start().len();
                let mut block = Vec::new();
                while index + 1 < lines.len() {
                    let next = lines[index + 1];
                    let next_indent = next.len() - next.trim_start().len();
                    if !next.trim().is_empty() && next_indent <= indent {
                        break;
                    }
                    block.push(next.trim());
                    index += 1;
                }
                block.join(" ").trim().to_owned()
            } else {
                value.trim_matches('\'').trim_matches('"').to_owned()
            };
            queries.push(PromQuery {
                file: file.clone(),
                dashboard: String::new(),
                row: String::new(),
                name: name.clone(),
                expr,
            });
        }
        index += 1;
    }
    queries
}

/// Replaces Grafana's variables with what Grafana would send: interval
/// variables with durations, dashboard variables (`$service`, `${app}`,
/// always used with `=~` in this repository) with `.+`.
pub fn substitute_grafana_variables(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').unwrap_or(braced.len());
            let name = braced[..end].split(':').next().unwrap_or_default();
            (name, end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(match name {
            "__rate_interval" => "15s",
            "__interval" | "interval" => "5s",
            "__range" | "range" => "5m",
            "__auto" => "1m",
            _ => ".+",
        });
        rest = &after[consumed.min(after.len())..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_variables_become_concrete_values() {
        assert_eq!(
            substitute_grafana_variables(
                r#"sum(rate(x{job=~"$service"}[$__rate_interval])) / ${app}"#
            ),
            r#"sum(rate(x{job=~".+"}[15s])) / .+"#
        );
        assert_eq!(
            substitute_grafana_variables("time() - $__range"),
            "time() - 5m"
        );
        assert_eq!(substitute_grafana_variables("cost in $"), "cost in $");
    }

    #[test]
    fn rule_queries_reads_inline_and_block_expressions() {
        let dir = std::env::temp_dir().join(format!("rule-queries-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("rules.yml");
        std::fs::write(
            &path,
            "groups:\n  - name: g\n    rules:\n      - record: a:b:rate5m\n        expr: sum(rate(a[5m]))\n      - alert: Down\n        expr: |\n          up\n            == 0\n        for: 1m\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let queries = rule_queries(&path);
        let _ = std::fs::remove_dir_all(&dir);
        let pairs: Vec<(&str, &str)> = queries
            .iter()
            .map(|q| (q.name.as_str(), q.expr.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("a:b:rate5m", "sum(rate(a[5m]))"), ("Down", "up == 0")]
        );
    }

    #[test]
    fn form_encoding_escapes_promql() {
        assert_eq!(
            form_encode(r#"sum(x{a=~"b|c"}) > 0.5"#),
            "sum%28x%7Ba%3D%7E%22b%7Cc%22%7D%29+%3E+0.5"
        );
    }

    #[test]
    fn scrape_config_lists_every_job() {
        let config = scrape_config(
            "1s",
            &[ScrapeJob::new("backend", 3000), ScrapeJob::new("bot", 3003)],
            &[PathBuf::from("/r/alerts.yml")],
        );
        assert!(config.contains("scrape_interval: 1s"));
        assert!(config.contains("job_name: \"backend\""));
        assert!(config.contains("targets: [\"127.0.0.1:3003\"]"));
        assert!(config.contains("- \"/r/alerts.yml\""));
    }
}
