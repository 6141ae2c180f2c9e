//! Grafana: `/api/health`, then, with the admin credentials, each
//! datasource's own health check (`/api/datasources/uid/<uid>/health`, the
//! "Test" button) and the provisioned dashboards.

use serde_json::Value;

use super::links;
use crate::{
    config::DoctorConfig,
    probe::{Answer, Probe, ProbeError, one_line, seconds, unreachable},
    report::{Check, Group, Hint},
};

pub async fn check(probe: &Probe, config: &DoctorConfig) -> Vec<Check> {
    let grafana = &config.grafana;
    let health = match probe.get(&grafana.join("/api/health")).await {
        Ok(answer) => answer,
        Err(error) => {
            return vec![unreachable(
                Group::Dashboards,
                "Grafana",
                grafana,
                &error,
                links::GRAFANA,
            )];
        }
    };
    let body = health.json();
    let database = body
        .as_ref()
        .and_then(|b| b["database"].as_str())
        .unwrap_or("");
    if health.status != 200 || database != "ok" {
        return vec![Check::fail(
            Group::Dashboards,
            "Grafana /api/health",
            format!("answered {}: {}", health.status, health.body_line()),
            Hint::new(
                format!(
                    "Grafana is starting, its database is failing, or {} is not Grafana: `make stack-logs`, or fix {}",
                    grafana.url, grafana.var
                ),
                links::GRAFANA,
            ),
        )];
    }
    let version = body
        .as_ref()
        .and_then(|b| b["version"].as_str())
        .unwrap_or("?");
    let mut checks = vec![Check::pass(
        Group::Dashboards,
        "Grafana /api/health",
        format!("ok, version {version}, in {}", seconds(health.elapsed)),
    )];
    let api = Api { probe, config };
    let (datasources, dashboards) = futures_util::join!(api.datasources(), api.dashboards());
    checks.extend(datasources);
    checks.push(dashboards);
    checks
}

struct Api<'a> {
    probe: &'a Probe,
    config: &'a DoctorConfig,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> Result<Answer, ProbeError> {
        let request = self
            .probe
            .client()
            .get(self.config.grafana.join(path))
            .basic_auth(
                &self.config.grafana_user,
                Some(self.config.grafana_password.expose()),
            );
        self.probe.send(request).await
    }

    /// A ✘ line for an answer that is not the expected JSON.
    fn refused(&self, name: &str, answer: Result<&Answer, &ProbeError>) -> Check {
        match answer {
            Ok(answer) if answer.status == 401 || answer.status == 403 => Check::fail(
                Group::Dashboards,
                name,
                format!("Grafana refused the admin credentials ({})", answer.status),
                Hint::new(
                    "set GF_SECURITY_ADMIN_USER / GF_SECURITY_ADMIN_PASSWORD to Grafana's admin login (admin/admin in development unless changed)",
                    links::GRAFANA,
                ),
            ),
            Ok(answer) => Check::fail(
                Group::Dashboards,
                name,
                format!("answered {}: {}", answer.status, answer.body_line()),
                Hint::new(
                    "Grafana's API does not answer as expected: `make stack-logs`",
                    links::GRAFANA,
                ),
            ),
            Err(error) => Check::fail(
                Group::Dashboards,
                name,
                error.to_string(),
                Hint::new(
                    "Grafana answers /api/health but not its API: overloaded?",
                    links::GRAFANA,
                ),
            ),
        }
    }

    /// One line per datasource: its health check's verdict.
    async fn datasources(&self) -> Vec<Check> {
        const NAME: &str = "Grafana datasources";
        let answer = self.get("/api/datasources").await;
        let list = match &answer {
            Ok(answer) if answer.status == 200 => answer.json().and_then(|v| v.as_array().cloned()),
            _ => None,
        };
        let Some(list) = list else {
            return vec![self.refused(NAME, answer.as_ref())];
        };
        if list.is_empty() {
            return vec![Check::fail(
                Group::Dashboards,
                NAME,
                "no datasource",
                Hint::new(
                    "Grafana's provisioning is not mounted: infrastructure/grafana/provisioning/datasources",
                    links::GRAFANA,
                ),
            )];
        }
        futures_util::future::join_all(list.iter().map(|source| self.datasource(source))).await
    }

    async fn datasource(&self, source: &Value) -> Check {
        let uid = source["uid"].as_str().unwrap_or_default();
        let kind = source["type"].as_str().unwrap_or("?");
        let name = format!("datasource {}", source["name"].as_str().unwrap_or(uid));
        let target = source["url"].as_str().unwrap_or("?");
        let answer = match self
            .get(&format!("/api/datasources/uid/{uid}/health"))
            .await
        {
            Ok(answer) => answer,
            Err(error) => return self.refused(&name, Err(&error)),
        };
        let body = answer.json().unwrap_or_default();
        let message = one_line(body["message"].as_str().unwrap_or(&answer.body), 140);
        if answer.status == 200
            && body["status"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("ok"))
        {
            return Check::pass(Group::Dashboards, name, format!("{kind}: {message}"));
        }
        if answer.status == 401 || answer.status == 403 {
            return self.refused(&name, Ok(&answer));
        }
        Check::fail(
            Group::Dashboards,
            name,
            format!("{kind} at {target}: {message}"),
            Hint::new(
                format!(
                    "Grafana cannot query {kind} at {target} (an address seen from Grafana's container): is it running (`docker compose ps`) and is that URL right in infrastructure/grafana/provisioning/datasources?"
                ),
                links::GRAFANA,
            ),
        )
    }

    async fn dashboards(&self) -> Check {
        const NAME: &str = "Grafana dashboards";
        let answer = self.get("/api/search?type=dash-db").await;
        let list = match &answer {
            Ok(answer) if answer.status == 200 => answer.json().and_then(|v| v.as_array().cloned()),
            _ => None,
        };
        let Some(list) = list else {
            return self.refused(NAME, answer.as_ref());
        };
        if list.is_empty() {
            return Check::fail(
                Group::Dashboards,
                NAME,
                "no dashboard",
                Hint::new(
                    "the dashboards are not provisioned: the infrastructure/grafana/dashboards mount",
                    links::GRAFANA,
                ),
            );
        }
        let titles: Vec<&str> = list.iter().filter_map(|d| d["title"].as_str()).collect();
        Check::pass(
            Group::Dashboards,
            NAME,
            format!("{}: {}", list.len(), one_line(&titles.join(", "), 120)),
        )
    }
}
