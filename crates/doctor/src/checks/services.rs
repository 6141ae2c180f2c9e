//! The services' probes: `/live`, `/ready`, `/health`, with the failing
//! dependency named from their bodies.

use serde_json::Value;

use super::links;
use crate::{
    config::ServiceTarget,
    probe::{Answer, Probe, seconds},
    report::{Check, Group, Hint},
};

/// The bot's own reason when it runs without a token: not ready on purpose
/// (it serves its probes and metrics only), which is how `make dev-all`
/// runs it on a machine with no Discord application.
const NO_DISCORD_TOKEN: &str = "DISCORD_TOKEN not set";

/// `token`: `METRICS_TOKEN`, which also unlocks the check messages of
/// `/ready` and `/health` (without it they give statuses only).
pub async fn check(probe: &Probe, service: &ServiceTarget, token: Option<&str>) -> Vec<Check> {
    let name = service.name;
    let live = match probe.get(&format!("{}/live", service.url)).await {
        Ok(answer) => answer,
        // One line: /ready and /health cannot answer either.
        Err(error) => {
            return vec![Check::fail(
                Group::Services,
                name,
                format!("unreachable at {}: {error}", service.url),
                Hint::new(
                    format!(
                        "{name} is not running there: `make dev-all` starts the three services (or `make dev-{name}`)"
                    ),
                    links::APP_DOWN,
                ),
            )];
        }
    };
    let mut checks = vec![if live.status == 200 {
        Check::pass(
            Group::Services,
            format!("{name} /live"),
            format!("ok in {}", seconds(live.elapsed)),
        )
    } else {
        Check::fail(
            Group::Services,
            format!("{name} /live"),
            format!("answered {}: {}", live.status, live.body_line()),
            Hint::new(
                format!(
                    "something else than {name} listens at {}: stop it, or point the URL at {name}",
                    service.url
                ),
                links::APP_DOWN,
            ),
        )
    }];
    let (ready_url, health_url) = (
        format!("{}/ready", service.url),
        format!("{}/health", service.url),
    );
    let get = |url: &str| {
        let request = probe.client().get(url);
        probe.send(match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        })
    };
    let (ready, health) = futures_util::join!(get(&ready_url), get(&health_url));
    checks.push(match ready {
        Ok(answer) => ready_line(name, &answer),
        Err(error) => Check::fail(
            Group::Services,
            format!("{name} /ready"),
            error.to_string(),
            Hint::new(
                format!("{name} answers /live but not /ready: it is overloaded or stuck"),
                links::APP_DOWN,
            ),
        ),
    });
    checks.push(match health {
        Ok(answer) => health_line(name, &answer),
        Err(error) => Check::fail(
            Group::Services,
            format!("{name} /health"),
            error.to_string(),
            Hint::new(
                format!("{name} answers /live but not /health: it is overloaded or stuck"),
                links::APP_DOWN,
            ),
        ),
    });
    checks
}

fn ready_line(name: &str, answer: &Answer) -> Check {
    let label = format!("{name} /ready");
    if answer.status == 200 {
        return Check::pass(
            Group::Services,
            label,
            format!("ready in {}", seconds(answer.elapsed)),
        );
    }
    let reasons: Vec<String> = answer
        .json()
        .and_then(|body| {
            body["reasons"].as_array().map(|reasons| {
                reasons
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    if reasons.is_empty() {
        return Check::fail(
            Group::Services,
            label,
            format!("answered {}: {}", answer.status, answer.body_line()),
            Hint::new(format!("{name} is not ready"), links::APP_DOWN),
        );
    }
    let figure = format!("not ready: {}", reasons.join("; "));
    if reasons.iter().all(|r| r.contains(NO_DISCORD_TOKEN)) {
        return without_token(label, figure);
    }
    let dependency = reasons[0].split(':').next().unwrap_or_default().trim();
    Check::fail(
        Group::Services,
        label,
        figure,
        dependency_hint(name, dependency),
    )
}

fn health_line(name: &str, answer: &Answer) -> Check {
    let label = format!("{name} /health");
    let Some(body) = answer.json() else {
        return Check::fail(
            Group::Services,
            label,
            format!(
                "answered {}, not JSON: {}",
                answer.status,
                answer.body_line()
            ),
            Hint::new(
                format!("something else than {name} answers there"),
                links::APP_DOWN,
            ),
        );
    };
    let status = body["status"].as_str().unwrap_or("unknown");
    let checks = body["checks"].as_object().cloned().unwrap_or_default();
    let failing: Vec<(&String, &Value)> = checks
        .iter()
        .filter(|(_, check)| check["status"] != "ok")
        .collect();
    if status == "ok" && failing.is_empty() {
        let names: Vec<&str> = checks.keys().map(String::as_str).collect();
        return Check::pass(
            Group::Services,
            label,
            if names.is_empty() {
                "ok".to_owned()
            } else {
                format!("ok ({} ok)", names.join(", "))
            },
        );
    }
    let described: Vec<String> = failing
        .iter()
        .map(|(dependency, check)| {
            let kind = if check["critical"] == true {
                "critical"
            } else {
                "informational"
            };
            let message = check["message"].as_str().unwrap_or("failing");
            format!("{dependency} ({kind}): {message}")
        })
        .collect();
    let figure = format!("{status}: {}", described.join("; "));
    let only_missing_token = !failing.is_empty()
        && failing.iter().all(|(_, check)| {
            check["message"]
                .as_str()
                .is_some_and(|m| m.contains(NO_DISCORD_TOKEN))
        });
    if only_missing_token {
        return without_token(label, figure);
    }
    let dependency = failing.first().map_or("", |(name, _)| name.as_str());
    Check::fail(
        Group::Services,
        label,
        figure,
        dependency_hint(name, dependency),
    )
}

fn without_token(label: String, figure: String) -> Check {
    Check::skip(
        Group::Services,
        label,
        figure,
        Hint::new(
            "expected without a bot token (probes and metrics only); set DISCORD_TOKEN in .env to connect to Discord",
            links::BOT,
        ),
    )
}

/// The fix for a failing dependency, by the check's name.
fn dependency_hint(service: &str, dependency: &str) -> Hint {
    match dependency {
        "database" => Hint::new(
            "the backend cannot use its database: check DATABASE_URL and that the database runs",
            links::APP_DOWN,
        ),
        "backend" => Hint::new(
            "the gateway cannot reach the backend at BACKEND_URL: start the backend (`make dev-backend`) or fix BACKEND_URL",
            links::APP_DOWN,
        ),
        "gateway" => Hint::new(
            "the bot cannot reach the gateway at GATEWAY_URL: start it (`make dev-gateway`) or fix GATEWAY_URL",
            links::APP_DOWN,
        ),
        "discord" => Hint::new(
            "the bot is not connected to Discord: check DISCORD_TOKEN and the bot's console",
            links::BOT_DISCONNECTED,
        ),
        "shutting down" => Hint::new(
            format!("{service} is shutting down (SIGTERM received): start it again"),
            links::APP_DOWN,
        ),
        other => Hint::new(
            format!("{service}'s dependency `{other}` fails: its /health body says why"),
            links::APP_DOWN,
        ),
    }
}
