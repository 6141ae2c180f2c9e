//! Prometheus: ready, its clock (`time()`), every target up (the three
//! services at least), rules loaded and evaluating without error, an
//! Alertmanager discovered; and Alertmanager itself ready.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{clock, links};
use crate::{
    config::{DoctorConfig, Endpoint},
    probe::{Answer, Probe, one_line, seconds, unreachable},
    report::{Check, Group, Hint},
};

/// Jobs the dashboards and alerts select on: they must be scraped.
pub const EXPECTED_JOBS: [&str; 3] = ["backend", "gateway", "bot"];

pub async fn check(probe: &Probe, config: &DoctorConfig) -> Vec<Check> {
    let prometheus = &config.prometheus;
    let ready = match probe.get(&prometheus.join("/-/ready")).await {
        Ok(answer) => answer,
        Err(error) => {
            return vec![unreachable(
                Group::Metrics,
                "Prometheus",
                prometheus,
                &error,
                links::NO_DATA,
            )];
        }
    };
    if ready.status != 200 {
        return vec![Check::fail(
            Group::Metrics,
            "Prometheus /-/ready",
            format!("answered {}: {}", ready.status, ready.body_line()),
            Hint::new(
                format!(
                    "Prometheus is starting (replaying its WAL) or {} is not Prometheus: wait, or fix {}",
                    prometheus.url, prometheus.var
                ),
                links::NO_DATA,
            ),
        )];
    }
    let mut checks = vec![Check::pass(
        Group::Metrics,
        "Prometheus /-/ready",
        format!("ready in {}", seconds(ready.elapsed)),
    )];
    let (clock, targets, rules, alertmanagers) = futures_util::join!(
        clock_line(probe, prometheus),
        target_lines(probe, prometheus),
        rules_line(probe, prometheus),
        alertmanagers_line(probe, prometheus),
    );
    checks.push(clock);
    checks.extend(targets);
    checks.push(rules);
    checks.push(alertmanagers);
    checks
}

/// `GET path` as the API's `data`, or a ✘ line saying why not.
async fn api(
    probe: &Probe,
    endpoint: &Endpoint,
    path: &str,
    group: Group,
    name: &str,
) -> Result<(Value, Answer), Check> {
    let failed = |figure: String| {
        Check::fail(
            group,
            name,
            figure,
            Hint::new(
                format!(
                    "Prometheus' API at {} does not answer as expected",
                    endpoint.url
                ),
                links::NO_DATA,
            ),
        )
    };
    let answer = probe
        .get(&endpoint.join(path))
        .await
        .map_err(|error| failed(format!("{path}: {error}")))?;
    match answer.json() {
        Some(body) if body["status"] == "success" => Ok((body["data"].clone(), answer)),
        _ => Err(failed(format!(
            "{path} answered {}: {}",
            answer.status,
            answer.body_line()
        ))),
    }
}

async fn clock_line(probe: &Probe, prometheus: &Endpoint) -> Check {
    const NAME: &str = "Prometheus clock";
    match api(
        probe,
        prometheus,
        "/api/v1/query?query=time()",
        Group::Metrics,
        NAME,
    )
    .await
    {
        Ok((data, answer)) => {
            let server = data["result"][0]
                .as_f64()
                .or_else(|| data["result"][1].as_str().and_then(|t| t.parse().ok()));
            match server {
                Some(server) => {
                    clock::from_server_time(Group::Metrics, NAME, server, answer.elapsed)
                }
                None => Check::fail(
                    Group::Metrics,
                    NAME,
                    format!("time() gave no number: {}", one_line(&data.to_string(), 80)),
                    Hint::new("not a Prometheus API", links::NO_DATA),
                ),
            }
        }
        Err(check) => check,
    }
}

/// One line per scrape job: its instances up, or the last scrape error of
/// those down; a ✘ for each expected job that is not scraped at all.
async fn target_lines(probe: &Probe, prometheus: &Endpoint) -> Vec<Check> {
    let data = match api(
        probe,
        prometheus,
        "/api/v1/targets?state=active",
        Group::Metrics,
        "targets",
    )
    .await
    {
        Ok((data, _)) => data,
        Err(check) => return vec![check],
    };
    let mut jobs: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let targets = data["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for target in &targets {
        let job = target["labels"]["job"]
            .as_str()
            .or_else(|| target["scrapePool"].as_str())
            .unwrap_or("?");
        jobs.entry(job.to_owned()).or_default().push(target);
    }
    let mut checks = Vec::new();
    for job in EXPECTED_JOBS {
        if !jobs.contains_key(job) {
            checks.push(Check::fail(
                Group::Metrics,
                format!("target {job}"),
                "not scraped: no such job",
                Hint::new(
                    format!("Prometheus' configuration has no `{job}` job: see infrastructure/prometheus/prometheus.yml"),
                    links::NO_DATA,
                ),
            ));
        }
    }
    // Expected jobs first, then the others (Prometheus, Loki, Tempo, ...).
    let ordered = jobs
        .iter()
        .filter(|(job, _)| EXPECTED_JOBS.contains(&job.as_str()))
        .chain(
            jobs.iter()
                .filter(|(job, _)| !EXPECTED_JOBS.contains(&job.as_str())),
        );
    for (job, instances) in ordered {
        let name = format!("target {job}");
        let down: Vec<&&Value> = instances.iter().filter(|t| t["health"] != "up").collect();
        let up = instances.len() - down.len();
        if down.is_empty() {
            checks.push(Check::pass(
                Group::Metrics,
                name,
                format!("{up}/{} up", instances.len()),
            ));
            continue;
        }
        if down.iter().all(|t| t["health"] == "unknown") {
            checks.push(Check::skip(
                Group::Metrics,
                name,
                format!("{up}/{} up, the others not scraped yet", instances.len()),
                Hint::new(
                    "Prometheus just started: run `make doctor` again in a few seconds",
                    links::NO_DATA,
                ),
            ));
            continue;
        }
        let first = down[0];
        let url = first["scrapeUrl"].as_str().unwrap_or("?");
        let error = first["lastError"].as_str().unwrap_or("");
        checks.push(Check::fail(
            Group::Metrics,
            name,
            format!(
                "{up}/{} up; {url}: {}",
                instances.len(),
                one_line(error, 120)
            ),
            target_hint(job, url, error),
        ));
    }
    checks
}

fn target_hint(job: &str, url: &str, error: &str) -> Hint {
    let error = error.to_ascii_lowercase();
    let text = if error.contains("connection refused") {
        if EXPECTED_JOBS.contains(&job) {
            format!(
                "Prometheus cannot reach {job} at {url}: {job} is not running there (`make dev-all`), or in Docker host.docker.internal does not reach the host"
            )
        } else {
            format!("{job} is not running where Prometheus looks ({url}): `make stack-up`")
        }
    } else if error.contains("401") || error.contains("403") {
        "the services require METRICS_TOKEN: give Prometheus the same token (authorization in its scrape config)".to_owned()
    } else if error.contains("deadline exceeded") || error.contains("timeout") {
        format!(
            "{job} answers /metrics too slowly for scrape_timeout, or a firewall drops the connection"
        )
    } else if error.contains("no such host") || error.contains("lookup") {
        format!("Prometheus cannot resolve {url}'s host: fix the target in its configuration")
    } else {
        format!("the scrape of {url} fails: its error above says why")
    };
    Hint::new(text, links::NO_DATA)
}

/// Every rule group loaded, and no rule whose last evaluation failed.
async fn rules_line(probe: &Probe, prometheus: &Endpoint) -> Check {
    const NAME: &str = "Prometheus rules";
    let data = match api(probe, prometheus, "/api/v1/rules", Group::Alerts, NAME).await {
        Ok((data, _)) => data,
        Err(check) => return check,
    };
    let groups = data["groups"].as_array().cloned().unwrap_or_default();
    let rules: Vec<(String, Value)> = groups
        .iter()
        .flat_map(|group| {
            let file = group["file"].as_str().unwrap_or_default().to_owned();
            group["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |rule| (file.clone(), rule))
        })
        .collect();
    if rules.is_empty() {
        return Check::fail(
            Group::Alerts,
            NAME,
            "no rules loaded",
            Hint::new(
                "Prometheus loaded no rule file: rule_files in its configuration, and the rules/ mount (`promtool check config`)",
                links::ALERTS,
            ),
        );
    }
    let alerts = rules
        .iter()
        .filter(|(_, r)| r["type"] == "alerting")
        .count();
    let failing: Vec<&(String, Value)> =
        rules.iter().filter(|(_, r)| r["health"] == "err").collect();
    let figure = format!(
        "{} rules ({alerts} alerts) in {} groups",
        rules.len(),
        groups.len()
    );
    if let Some((file, rule)) = failing.first() {
        return Check::fail(
            Group::Alerts,
            NAME,
            format!(
                "{figure}; {} failing, e.g. {}: {}",
                failing.len(),
                rule["name"].as_str().unwrap_or("?"),
                one_line(rule["lastError"].as_str().unwrap_or(""), 120)
            ),
            Hint::new(
                format!(
                    "a rule's expression fails when evaluated: fix it in {file} (`make check-infra` runs promtool's rule tests)"
                ),
                links::ALERTS,
            ),
        );
    }
    Check::pass(Group::Alerts, NAME, format!("{figure}, none failing"))
}

async fn alertmanagers_line(probe: &Probe, prometheus: &Endpoint) -> Check {
    const NAME: &str = "Prometheus → Alertmanager";
    let data = match api(
        probe,
        prometheus,
        "/api/v1/alertmanagers",
        Group::Alerts,
        NAME,
    )
    .await
    {
        Ok((data, _)) => data,
        Err(check) => return check,
    };
    let active: Vec<&str> = data["activeAlertmanagers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|am| am["url"].as_str())
        .collect();
    if active.is_empty() {
        let dropped = data["droppedAlertmanagers"].as_array().map_or(0, Vec::len);
        return Check::fail(
            Group::Alerts,
            NAME,
            format!("no Alertmanager discovered ({dropped} dropped)"),
            Hint::new(
                "alerts fire nowhere: set alerting.alertmanagers in Prometheus' configuration (alertmanager:9093 in compose)",
                links::ALERTS,
            ),
        );
    }
    Check::pass(Group::Alerts, NAME, active.join(", "))
}

/// Alertmanager's own readiness (where the alerts end up).
pub async fn alertmanager(probe: &Probe, config: &DoctorConfig) -> Check {
    let endpoint = &config.alertmanager;
    match probe.get(&endpoint.join("/-/ready")).await {
        Ok(answer) if answer.status == 200 => Check::pass(
            Group::Alerts,
            "Alertmanager /-/ready",
            format!("ready in {}", seconds(answer.elapsed)),
        ),
        Ok(answer) => Check::fail(
            Group::Alerts,
            "Alertmanager /-/ready",
            format!("answered {}: {}", answer.status, answer.body_line()),
            Hint::new(
                format!(
                    "{} is not a ready Alertmanager: read its logs (`make stack-logs`), or fix {}",
                    endpoint.url, endpoint.var
                ),
                links::ALERTS,
            ),
        ),
        Err(error) => unreachable(
            Group::Alerts,
            "Alertmanager",
            endpoint,
            &error,
            links::ALERTS,
        ),
    }
}
