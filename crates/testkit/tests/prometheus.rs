//! The observability stack against a real Prometheus (Debian package): it
//! scrapes the three running services, and every PromQL expression of the
//! Grafana dashboards and of the rule files evaluates without error on it.
//! Skips loudly without `prometheus`/`promtool`, fails instead under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use testkit::{
    ServiceBuilder, http_client,
    prometheus::{
        self, PromQuery, Prometheus, ScrapeJob, dashboard_queries, rule_queries, scrape_config,
        substitute_grafana_variables,
    },
};

/// Long enough for a few 1 s scrapes and rule evaluations on a loaded machine.
const DATA_DEADLINE: Duration = Duration::from_secs(60);

fn infrastructure() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infrastructure")
}

/// Every rule file, as compose loads them (`rules/*.yml`).
fn rule_files() -> Vec<PathBuf> {
    let dir = infrastructure().join("prometheus/rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("rules directory")
        .map(|entry| entry.expect("rules entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .map(|path| path.canonicalize().expect("rule file"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "alerts, recording and SLO rules: {files:?}"
    );
    files
}

/// Every PromQL expression of the dashboards and the rule files.
fn all_queries() -> Vec<PromQuery> {
    let mut queries = dashboard_queries(&infrastructure().join("grafana/dashboards"));
    for file in rule_files() {
        queries.extend(rule_queries(&file));
    }
    assert!(
        queries.len() > 40,
        "expected every dashboard and rule query, found {}",
        queries.len()
    );
    for query in &queries {
        assert!(
            !query.expr.trim().is_empty(),
            "{} {}: empty expression",
            query.file,
            query.name
        );
    }
    queries
}

/// Sends every query; returns one line per query Prometheus rejected.
async fn evaluation_errors(prometheus: &Prometheus, queries: &[PromQuery]) -> Vec<String> {
    let mut errors = Vec::new();
    for query in queries {
        let expr = substitute_grafana_variables(&query.expr);
        if let Err(error) = prometheus.query(&expr).await {
            errors.push(format!(
                "{} / {}: {error}\n    {expr}",
                query.file, query.name
            ));
        }
    }
    errors
}

/// The harness itself, with nothing but Prometheus scraping itself: `up`
/// arrives, a broken expression is reported as an error (so the dashboard
/// check below can fail), and every dashboard and rule expression evaluates.
#[tokio::test]
async fn every_dashboard_and_rule_expression_evaluates_on_a_real_prometheus() {
    if !prometheus::tools_available() {
        return;
    }
    let port = testkit::free_port();
    let config = scrape_config("1s", &[ScrapeJob::new("prometheus", port)], &rule_files());
    let prometheus = Prometheus::start_on(port, &config).await;
    let queries = all_queries();
    prometheus
        .wait_for_data(r#"up{job="prometheus"} == 1"#, DATA_DEADLINE)
        .await;

    let broken = prometheus
        .query("sum(rate(http_server_request_duration_seconds_count[5m])")
        .await;
    assert!(
        broken.is_err(),
        "an unbalanced parenthesis must be an error, got {broken:?}"
    );
    let unknown = prometheus.query("no_such_function(up)").await;
    assert!(unknown.is_err(), "an unknown function must be an error");

    let errors = evaluation_errors(&prometheus, &queries).await;
    assert!(
        errors.is_empty(),
        "{} of {} expressions fail on Prometheus:\n{}",
        errors.len(),
        queries.len(),
        errors.join("\n")
    );

    // Recording rules are loaded and evaluated (they need data to produce
    // series; here only that the rule manager accepted them).
    let rules: serde_json::Value = http_client()
        .get(prometheus.url("/api/v1/rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded: usize = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["rules"].as_array().map_or(0, Vec::len))
        .sum();
    let in_files = rule_files()
        .iter()
        .map(|file| rule_queries(file).len())
        .sum::<usize>();
    assert_eq!(loaded, in_files, "every rule is loaded");
}

/// The three services, scraped every second after some traffic: all `up`,
/// `http_server_request_duration_seconds` has the exercised routes, and the RED and process
/// panels of the Service RED dashboard return data.
#[tokio::test]
async fn prometheus_scrapes_the_three_services_and_the_red_panels_have_data() {
    if !prometheus::tools_available() {
        return;
    }
    let data = TempDir::new("prometheus-test");
    let data = &data.0;
    let mut backend = ServiceBuilder::new("backend")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/backend.db?mode=rwc", data.display()),
        )
        .spawn();
    backend.wait_live().await;
    let mut gateway = ServiceBuilder::new("gateway")
        .env("BACKEND_URL", backend.url(""))
        .spawn();
    gateway.wait_live().await;
    let mut bot = ServiceBuilder::new("bot")
        .env("GATEWAY_URL", gateway.url(""))
        .spawn();
    bot.wait_live().await;

    // Demo traffic: a probe route on each, a path no route matches, and a
    // gateway API call (refused without a key: still an API request the
    // SLO counts).
    let client = http_client();
    for service in [&backend, &gateway, &bot] {
        for path in ["/live", "/health", "/no/such/route"] {
            for _ in 0..3 {
                client.get(service.url(path)).send().await.unwrap();
            }
        }
    }
    client
        .get(gateway.url("/api/guilds/1"))
        .send()
        .await
        .unwrap();

    let config = scrape_config(
        "1s",
        &[
            ScrapeJob::new("backend", backend.port),
            ScrapeJob::new("gateway", gateway.port),
            ScrapeJob::new("bot", bot.port),
        ],
        &rule_files(),
    );
    let prometheus = Prometheus::start(&config).await;

    let prometheus = &prometheus;
    prometheus
        .wait_for_targets_up(&["backend", "gateway", "bot"], DATA_DEADLINE)
        .await;
    // And as the dashboards and ApplicationDown see it: the `up` series.
    testkit::poll_until(
        DATA_DEADLINE,
        "up == 1 for all three services",
        || async move {
            let result = prometheus
                .query(r#"count(up{job=~"backend|gateway|bot"} == 1)"#)
                .await
                .ok()?;
            (result.samples.first()?.1 == "3").then_some(())
        },
    )
    .await;

    for job in ["backend", "gateway", "bot"] {
        for route in ["/live", "unmatched"] {
            let expr = format!(
                r#"http_server_request_duration_seconds_count{{job="{job}", http_route="{route}"}}"#
            );
            let result = prometheus.wait_for_data(&expr, DATA_DEADLINE).await;
            assert!(
                result.samples.iter().all(|(labels, _)| {
                    labels
                        .get("http_request_method")
                        .is_some_and(|m| m == "GET")
                }),
                "{expr}: {result:?}"
            );
        }
    }

    // Every expression evaluates; the RED and process panels return data.
    let queries = all_queries();
    let errors = evaluation_errors(prometheus, &queries).await;
    assert!(
        errors.is_empty(),
        "{} of {} expressions fail on Prometheus:\n{}",
        errors.len(),
        queries.len(),
        errors.join("\n")
    );
    let must_have_data: Vec<&PromQuery> = queries
        .iter()
        .filter(|query| query.dashboard == "service-red" && query.row != "Business")
        .collect();
    assert!(must_have_data.len() >= 12, "{must_have_data:?}");
    for query in must_have_data {
        let expr = substitute_grafana_variables(&query.expr);
        let result = prometheus.wait_for_data(&expr, DATA_DEADLINE).await;
        assert!(!result.is_empty(), "{}: no data for {expr}", query.name);
    }
}

/// A directory removed on drop, even when the test fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
