//! Loki: `/ready`, the clock (its `Date` header), a line pushed with a
//! unique marker (telemetry's own encoder, snappy + protobuf, the services'
//! wire format) and read back through `query_range`, and the services' own
//! shipping counters from their `/metrics`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use telemetry::logging::loki::{Entry, StreamLabels, encode};

use super::{clock, links};
use crate::{
    config::{DoctorConfig, ServiceTarget},
    exposition,
    probe::{Answer, Probe, ProbeError, one_line, seconds},
    report::{Check, Group, Hint},
};

/// The `app` label of the probe line (its own stream, next to the services').
pub const PROBE_APP: &str = "doctor";

pub async fn check(probe: &Probe, config: &DoctorConfig) -> Vec<Check> {
    let Some(url) = &config.loki_url else {
        return vec![Check::skip(
            Group::Logs,
            "Loki",
            "not configured: LOKI_URL is empty (the services log to the console only)",
            Hint::new(
                "start the stack with `make stack-up`, then set LOKI_URL=http://localhost:3100 in .env and restart the services",
                links::LOKI,
            ),
        )];
    };
    let loki = Loki { probe, config, url };
    let (mut checks, shipping) = futures_util::join!(loki.server_checks(), async {
        futures_util::future::join_all(
            config
                .services
                .iter()
                .map(|service| shipping_line(probe, config, service)),
        )
        .await
    });
    checks.extend(shipping);
    checks
}

struct Loki<'a> {
    probe: &'a Probe,
    config: &'a DoctorConfig,
    url: &'a str,
}

impl Loki<'_> {
    /// `/ready` (and the clock from its answer), then the round trip.
    async fn server_checks(&self) -> Vec<Check> {
        let request = self
            .config
            .loki
            .authorize(self.probe.client().get(format!("{}/ready", self.url)));
        let ready = match self.probe.send(request).await {
            Ok(answer) => answer,
            Err(error) => return vec![self.unreachable(&error)],
        };
        if ready.status == 404 && self.config.loki.auth.is_some() {
            // A managed Loki (credentials set) may not expose /ready: the
            // round trip is the real test.
            return vec![
                Check::skip(
                    Group::Logs,
                    "Loki /ready",
                    "not exposed (404): a managed Loki?",
                    Hint::new(
                        "the push and query below tell whether it works",
                        links::LOKI,
                    ),
                ),
                clock::from_date_header(Group::Logs, "Loki clock", &ready),
                self.round_trip().await,
            ];
        }
        let mut checks = vec![self.ready_line(&ready)];
        if ready.status == 404 || (ready.status == 200 && !is_loki_ready(&ready)) {
            // Not a Loki: nothing else can work.
            return checks;
        }
        checks.push(clock::from_date_header(Group::Logs, "Loki clock", &ready));
        checks.push(self.round_trip().await);
        checks
    }

    fn unreachable(&self, error: &ProbeError) -> Check {
        let hint = match error {
            ProbeError::UnknownHost => format!(
                "LOKI_URL's host does not resolve from here ({}); with `make stack-up` it is http://localhost:3100 (http://loki:3100 only inside compose)",
                self.url
            ),
            _ => format!(
                "Loki is not running at LOKI_URL ({}): `make stack-up` starts it (`docker compose ps loki`); or empty LOKI_URL to log to the console only",
                self.url
            ),
        };
        Check::fail(
            Group::Logs,
            "Loki /ready",
            format!("unreachable at {}: {error}", self.url),
            Hint::new(hint, links::LOKI_DOWN),
        )
    }

    fn ready_line(&self, answer: &Answer) -> Check {
        match answer.status {
            200 if !is_loki_ready(answer) => Check::fail(
                Group::Logs,
                "Loki /ready",
                format!(
                    "{} answers /ready, but not as Loki does: {}",
                    self.url,
                    one_line(&answer.body, 80)
                ),
                Hint::new(NOT_LOKI, links::LOKI),
            ),
            200 => Check::pass(
                Group::Logs,
                "Loki /ready",
                format!("ready in {}", seconds(answer.elapsed)),
            ),
            404 => Check::fail(
                Group::Logs,
                "Loki /ready",
                format!("{} answers 404 on /ready: not a Loki", self.url),
                Hint::new(NOT_LOKI, links::LOKI),
            ),
            401 | 403 => Check::fail(
                Group::Logs,
                "Loki /ready",
                format!("refused ({}): {}", answer.status, answer.body_line()),
                Hint::new(
                    "Loki wants credentials: set LOKI_USERNAME/LOKI_PASSWORD or LOKI_TOKEN (and LOKI_TENANT if multi-tenant)",
                    links::LOKI,
                ),
            ),
            status => Check::fail(
                Group::Logs,
                "Loki /ready",
                format!("not ready ({status}): {}", answer.body_line()),
                Hint::new(
                    "Loki is starting (about 15 s after boot) or unhealthy: wait, then read its logs (`make stack-logs`)",
                    links::LOKI,
                ),
            ),
        }
    }

    /// Pushes one line with a unique marker, then queries for it until it
    /// comes back or the deadline passes.
    async fn round_trip(&self) -> Check {
        const NAME: &str = "Loki push + query";
        let started = Instant::now();
        let marker = unique_marker();
        let entry = Entry {
            time: SystemTime::now(),
            level: tracing::Level::INFO,
            line: serde_json::json!({
                "level": "info",
                "message": "make doctor probe",
                "doctor_marker": marker,
            })
            .to_string(),
            trace: None,
        };
        let labels = StreamLabels::new(PROBE_APP, self.config.environment.as_str());
        let body = match encode(vec![entry], &labels) {
            Ok(batch) => batch.body,
            Err(error) => {
                return Check::fail(
                    Group::Logs,
                    NAME,
                    format!("cannot encode the probe line: {error}"),
                    Hint::new("a bug in the doctor", links::LOKI),
                );
            }
        };
        let push = self.config.loki.authorize(
            self.probe
                .client()
                .post(format!("{}/loki/api/v1/push", self.url))
                .header("content-type", "application/x-protobuf")
                .body(body),
        );
        let pushed = match self.probe.send(push).await {
            Ok(answer) if (200..300).contains(&answer.status) => answer,
            Ok(answer) => return push_refused(&answer),
            Err(error) => {
                return Check::fail(
                    Group::Logs,
                    NAME,
                    format!("push failed: {error}"),
                    Hint::new(
                        "Loki answers /ready but not pushes: overloaded, or a proxy in front of it",
                        links::LOKI_DOWN,
                    ),
                );
            }
        };
        let deadline = started + self.probe.timeout + Duration::from_secs(1);
        let mut last;
        let mut pause = Duration::from_millis(50);
        loop {
            match self.query(&marker).await {
                Ok(true) => {
                    return Check::pass(
                        Group::Logs,
                        NAME,
                        format!(
                            "pushed ({} in {}), read back in {}",
                            pushed.status,
                            seconds(pushed.elapsed),
                            seconds(started.elapsed())
                        ),
                    );
                }
                Ok(false) => last = "not found yet".to_owned(),
                Err(error) => last = error,
            }
            if Instant::now() + pause > deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
        Check::fail(
            Group::Logs,
            NAME,
            format!(
                "pushed, but query_range did not return it within {}: {last}",
                seconds(started.elapsed())
            ),
            Hint::new(
                "Loki accepted the line and does not return it: a skewed clock (see Loki clock), a tenant mismatch (LOKI_TENANT), or its querier is not ready",
                links::LOKI,
            ),
        )
    }

    /// Whether `query_range` returns the marked line; Err with Loki's
    /// answer when the query itself fails.
    async fn query(&self, marker: &str) -> Result<bool, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let minute: u128 = 60_000_000_000;
        let mut url = reqwest::Url::parse(&format!("{}/loki/api/v1/query_range", self.url))
            .map_err(|error| error.to_string())?;
        url.query_pairs_mut()
            .append_pair("query", &format!("{{app=\"{PROBE_APP}\"}} |= \"{marker}\""))
            .append_pair("start", &(now - 5 * minute).to_string())
            .append_pair("end", &(now + minute).to_string())
            .append_pair("limit", "10")
            .append_pair("direction", "backward");
        let request = self.config.loki.authorize(self.probe.client().get(url));
        let answer = self
            .probe
            .send(request)
            .await
            .map_err(|error| error.to_string())?;
        if answer.status != 200 {
            return Err(format!(
                "query_range answered {}: {}",
                answer.status,
                answer.body_line()
            ));
        }
        Ok(answer.json().is_some_and(|body| {
            body["data"]["result"].as_array().is_some_and(|streams| {
                streams.iter().any(|stream| {
                    stream["values"].as_array().is_some_and(|values| {
                        values
                            .iter()
                            .any(|pair| pair[1].as_str().is_some_and(|line| line.contains(marker)))
                    })
                })
            })
        }))
    }
}

/// The fix when LOKI_URL answers, but is not Loki.
const NOT_LOKI: &str = "LOKI_URL points at something else than Loki: it is Loki's base URL, no path (http://localhost:3100 with `make stack-up`)";

/// Loki answers `ready` in plain text (a service's `/ready` is JSON).
fn is_loki_ready(answer: &Answer) -> bool {
    answer.body.trim() == "ready"
}

/// A marker no other line carries: the process id and the time in ns.
fn unique_marker() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("doctor-{}-{nanos}", std::process::id())
}

/// The ✘ line for a push Loki refused, with the fix its answer points to.
fn push_refused(answer: &Answer) -> Check {
    let body = answer.body.to_ascii_lowercase();
    let hint = if answer.status == 404 {
        NOT_LOKI
    } else if answer.status == 401 || answer.status == 403 {
        "Loki refuses the credentials: set LOKI_USERNAME/LOKI_PASSWORD or LOKI_TOKEN as your Loki expects"
    } else if body.contains("no org id") || body.contains("tenant") {
        "this Loki is multi-tenant: set LOKI_TENANT (sent as X-Scope-OrgID)"
    } else if answer.status == 429 {
        "Loki rate-limits this tenant (429): raise limits_config.ingestion_rate_mb, or log less"
    } else if body.contains("too far behind")
        || body.contains("too old")
        || body.contains("out of order")
        || body.contains("too far in the future")
    {
        "Loki refuses the timestamp: this machine's clock is off (see Loki clock) or the line is older than reject_old_samples_max_age"
    } else if body.contains("line too long") || body.contains("max_line_size") {
        "the line is longer than Loki's limits_config.max_line_size"
    } else if body.contains("stream") && body.contains("limit") {
        "too many streams for Loki's limits: a label with too many values"
    } else if answer.status >= 500 {
        "Loki fails (5xx): read its logs (`make stack-logs`); the services retry such pushes"
    } else {
        "Loki refuses the push (its answer says why): the services drop such batches, counted in telemetry_log_events_dropped_total{reason=\"rejected\"}"
    };
    Check::fail(
        Group::Logs,
        "Loki push + query",
        format!(
            "push rejected: {} {}",
            answer.status,
            one_line(&answer.body, 120)
        ),
        Hint::new(hint, links::LOG_SHIPPING),
    )
}

/// A service's own shipping counters: shipped, dropped (by reason), bytes
/// waiting, push failures. ✘ when it dropped lines or its buffer is over
/// half of `LOKI_MAX_BUFFER`.
async fn shipping_line(probe: &Probe, config: &DoctorConfig, service: &ServiceTarget) -> Check {
    let name = format!("{} log shipping", service.name);
    let mut request = probe.client().get(format!("{}/metrics", service.url));
    if let Some(token) = &config.metrics.token {
        request = request.bearer_auth(token);
    }
    let answer = match probe.send(request).await {
        Ok(answer) => answer,
        Err(error) => {
            return Check::skip(
                Group::Logs,
                name,
                format!("no /metrics: {error}"),
                Hint::new(
                    format!("{} is not running (see services)", service.name),
                    links::APP_DOWN,
                ),
            );
        }
    };
    if answer.status == 401 {
        return Check::fail(
            Group::Logs,
            name,
            "/metrics answered 401",
            Hint::new(
                "the services require METRICS_TOKEN: set the same value where the doctor runs (.env)",
                links::NO_DATA,
            ),
        );
    }
    let text = &answer.body;
    // Counters and byte gauges: whole numbers.
    let count = |name: &str| exposition::sum(text, name).unwrap_or(0.0).max(0.0) as u64;
    let shipped = count("telemetry_log_events_shipped_total");
    let dropped = exposition::samples(text, "telemetry_log_events_dropped_total");
    let dropped_total = count("telemetry_log_events_dropped_total");
    let buffered = count("telemetry_log_buffer_bytes");
    let failures = count("telemetry_log_push_failures_total");
    let mut figure = format!(
        "{shipped} shipped, {dropped_total} dropped, {} buffered, {failures} failed pushes",
        bytes(buffered)
    );
    if dropped_total > 0 {
        let reasons: Vec<String> = dropped
            .iter()
            .filter(|s| s.value > 0.0)
            .map(|s| format!("{}={}", s.label("reason").unwrap_or("?"), s.value as u64))
            .collect();
        figure.push_str(&format!(" ({})", reasons.join(", ")));
        let main = dropped
            .iter()
            .max_by(|a, b| a.value.total_cmp(&b.value))
            .and_then(|s| s.label("reason"))
            .unwrap_or_default();
        let hint = match main {
            "buffer_full" => {
                "Loki was down or slow long enough to fill LOKI_MAX_BUFFER: bring Loki back (see Loki /ready); raise LOKI_MAX_BUFFER for longer outages"
            }
            "rejected" => {
                "Loki refused batches (4xx): the service's console quotes Loki's answer (see Loki push + query)"
            }
            "shutdown" => {
                "lines were still buffered when the service stopped: raise LOKI_FLUSH_TIMEOUT"
            }
            _ => "lines could not be encoded: the service's console says why",
        };
        return Check::fail(
            Group::Logs,
            name,
            figure,
            Hint::new(
                format!("{hint} (counted since the service started)"),
                links::LOG_SHIPPING,
            ),
        );
    }
    let max = config.loki.max_buffer_bytes as u64;
    if buffered > max / 2 {
        return Check::fail(
            Group::Logs,
            name,
            format!("{figure}, over half of LOKI_MAX_BUFFER ({})", bytes(max)),
            Hint::new(
                "lines pile up: Loki is unreachable or slower than the services log (see Loki /ready)",
                links::LOG_SHIPPING,
            ),
        );
    }
    Check::pass(Group::Logs, name, figure)
}

fn bytes(value: u64) -> String {
    const KIB: f64 = 1024.0;
    let value_f = value as f64;
    if value_f >= KIB * KIB {
        format!("{:.1} MiB", value_f / (KIB * KIB))
    } else if value_f >= KIB {
        format!("{:.1} KiB", value_f / KIB)
    } else {
        format!("{value} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: reqwest::header::HeaderMap::new(),
            body: body.to_owned(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn a_refused_push_names_the_likely_fix() {
        let hint = |status, body| push_refused(&answer(status, body)).hint.unwrap().text;
        assert!(
            hint(400, "entry for stream '{app=\"x\"}' has timestamp too old").contains("clock")
        );
        assert!(hint(401, "no org id").contains("LOKI_USERNAME"));
        assert!(hint(400, "no org id").contains("LOKI_TENANT"));
        assert!(hint(429, "ingestion rate limit exceeded").contains("rate-limits"));
        assert!(hint(400, "bad request").contains("reason=\"rejected\""));
        assert!(hint(404, "404 page not found").contains("LOKI_URL points at something else"));
        let check = push_refused(&answer(400, "line too long"));
        assert!(
            check.figure.contains("400 line too long"),
            "{}",
            check.figure
        );
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
