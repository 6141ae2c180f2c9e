//! What the doctor checks, read from the same environment (and `.env`) as
//! the services, with telemetry's readers: a bad value stops it with the
//! same one-line error naming the variable.

use std::time::Duration;

use telemetry::{
    ConfigError, Environment, TelemetryConfig,
    config::{http_url, port, var},
    logging::loki::LokiConfig,
    metrics::MetricsConfig,
    secrets::Secret,
    trace::TraceConfig,
};

/// Longest wait for one HTTP answer, and for a round trip (a line read back
/// from Loki, a span from Tempo), unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// A component of the stack at an address: set by its variable, or the
/// address `make stack-up` publishes when the variable is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// The variable that sets it (named in hints).
    pub var: &'static str,
    /// Whether the variable was set: an unset one whose default address does
    /// not answer means "not running", not a failure.
    pub explicit: bool,
}

impl Endpoint {
    fn from_env(var: &'static str, default: &str) -> Result<Self, ConfigError> {
        Ok(match http_url(var)? {
            Some(url) => Self {
                url,
                var,
                explicit: true,
            },
            None => Self {
                url: default.to_owned(),
                var,
                explicit: false,
            },
        })
    }

    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

/// One of the three services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTarget {
    pub name: &'static str,
    pub url: String,
}

/// Everything the checks need.
#[derive(Debug, Clone)]
pub struct DoctorConfig {
    pub timeout: Duration,
    pub environment: Environment,
    pub services: Vec<ServiceTarget>,
    /// `METRICS_TOKEN`, sent to the services' `/metrics`.
    pub metrics: MetricsConfig,
    /// `LOKI_URL`; `None`: the services log to the console only.
    pub loki_url: Option<String>,
    pub loki: LokiConfig,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; `None`: no span export.
    pub otlp_endpoint: Option<String>,
    pub tracing: TraceConfig,
    pub tempo: Endpoint,
    pub prometheus: Endpoint,
    pub alertmanager: Endpoint,
    pub grafana: Endpoint,
    pub grafana_user: String,
    pub grafana_password: Secret<String>,
}

impl DoctorConfig {
    pub fn from_env(timeout: Duration) -> Result<Self, ConfigError> {
        let telemetry = TelemetryConfig::from_env()?;
        Ok(Self {
            timeout,
            environment: telemetry.environment,
            services: services()?,
            metrics: MetricsConfig::from_env()?,
            loki_url: telemetry.logging.loki.url.clone(),
            loki: telemetry.logging.loki,
            otlp_endpoint: telemetry.tracing.endpoint.clone(),
            tracing: telemetry.tracing,
            tempo: Endpoint::from_env("TEMPO_URL", "http://localhost:3200")?,
            prometheus: Endpoint::from_env("PROMETHEUS_URL", "http://localhost:9090")?,
            alertmanager: Endpoint::from_env("ALERTMANAGER_URL", "http://localhost:9093")?,
            grafana: Endpoint::from_env("GRAFANA_URL", "http://localhost:3002")?,
            // The variables the Grafana container reads (docker-compose.yml).
            grafana_user: var("GF_SECURITY_ADMIN_USER").unwrap_or_else(|| "admin".to_owned()),
            grafana_password: Secret::new(
                var("GF_SECURITY_ADMIN_PASSWORD").unwrap_or_else(|| "admin".to_owned()),
            ),
        })
    }
}

/// Where each service answers: the URL its clients use (`BACKEND_URL` for
/// the gateway's view of the backend, `GATEWAY_URL` for the bot's view of
/// the gateway), else localhost on the port it listens on. `PORT` is
/// ignored: it overrides one service's port, never all three.
fn services() -> Result<Vec<ServiceTarget>, ConfigError> {
    let local = |port: u16| format!("http://localhost:{port}");
    Ok(vec![
        ServiceTarget {
            name: "backend",
            url: http_url("BACKEND_URL")?.unwrap_or(local(port(&["BACKEND_PORT"], 3000)?)),
        },
        ServiceTarget {
            name: "gateway",
            url: http_url("GATEWAY_URL")?.unwrap_or(local(port(&["GATEWAY_PORT"], 3001)?)),
        },
        ServiceTarget {
            name: "bot",
            url: local(port(&["BOT_HTTP_PORT"], 3003)?),
        },
    ])
}
