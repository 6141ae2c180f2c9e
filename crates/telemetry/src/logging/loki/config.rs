//! Loki shipping settings (`LOKI_URL` and the other `LOKI_*`), read with
//! the `config::env` helpers so a bad value names its variable.

use std::{fmt, str::FromStr, time::Duration};

use crate::{
    config::env::{ConfigError, http_url, parse_or, var},
    secrets::sanitize_url,
};

/// How the shipper authenticates to a managed Loki.
#[derive(Clone, PartialEq, Eq)]
pub enum LokiAuth {
    Basic { username: String, password: String },
    Bearer(String),
}

impl fmt::Debug for LokiAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username}, [redacted])"),
            Self::Bearer(_) => f.write_str("Bearer([redacted])"),
        }
    }
}

/// Where and how the Loki shipper pushes. `Debug` shows the URL without
/// its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct LokiConfig {
    /// `LOKI_URL`: Loki's base URL; `None` (unset or empty) = no shipping.
    pub url: Option<String>,
    /// `LOKI_BATCH_INTERVAL`: the longest a line waits before being pushed.
    pub batch_interval: Duration,
    /// Size that triggers a push before the interval (not an env variable:
    /// 1 MiB keeps every push far below Loki's 4 MB gRPC and 6 MB burst limits).
    pub batch_max_bytes: usize,
    /// `LOKI_MAX_BUFFER`: bytes of events held while Loki is slow or down.
    pub max_buffer_bytes: usize,
    /// `LOKI_TIMEOUT`: one push request, connection included.
    pub timeout: Duration,
    /// `LOKI_FLUSH_TIMEOUT`: the whole flush at shutdown.
    pub flush_timeout: Duration,
    /// `LOKI_TENANT` (`X-Scope-OrgID`).
    pub tenant: Option<String>,
    /// `LOKI_USERNAME`/`LOKI_PASSWORD` or `LOKI_TOKEN`.
    pub auth: Option<LokiAuth>,
    /// Loki's `max_line_size` (256 KiB by default): longer lines are truncated.
    pub max_line_bytes: usize,
}

impl fmt::Debug for LokiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LokiConfig")
            .field("url", &self.url.as_deref().map(sanitize_url))
            .field("batch_interval", &self.batch_interval)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .field("max_buffer_bytes", &self.max_buffer_bytes)
            .field("timeout", &self.timeout)
            .field("flush_timeout", &self.flush_timeout)
            .field("tenant", &self.tenant)
            .field("auth", &self.auth)
            .field("max_line_bytes", &self.max_line_bytes)
            .finish()
    }
}

pub(crate) const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_BATCH_MAX_BYTES: usize = 1024 * 1024;
pub(crate) const DEFAULT_MAX_BUFFER_BYTES: usize = 64 * 1024 * 1024;
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_MAX_LINE_BYTES: usize = 256 * 1024;

impl Default for LokiConfig {
    fn default() -> Self {
        Self {
            url: None,
            batch_interval: DEFAULT_BATCH_INTERVAL,
            batch_max_bytes: DEFAULT_BATCH_MAX_BYTES,
            max_buffer_bytes: DEFAULT_MAX_BUFFER_BYTES,
            timeout: DEFAULT_TIMEOUT,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            tenant: None,
            auth: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

impl LokiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let positive = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            let HumanDuration(value) = parse_or(name, HumanDuration(default))?;
            if value.is_zero() {
                return Err(ConfigError::new(name, "0", "must be greater than zero"));
            }
            Ok(value)
        };
        let ByteSize(max_buffer_bytes) =
            parse_or("LOKI_MAX_BUFFER", ByteSize(DEFAULT_MAX_BUFFER_BYTES))?;
        if max_buffer_bytes < 64 * 1024 {
            return Err(ConfigError::new(
                "LOKI_MAX_BUFFER",
                &max_buffer_bytes.to_string(),
                "must be at least 64KiB",
            ));
        }
        let auth = match (
            var("LOKI_TOKEN"),
            var("LOKI_USERNAME"),
            var("LOKI_PASSWORD"),
        ) {
            (Some(_), Some(user), _) => {
                return Err(ConfigError::new(
                    "LOKI_USERNAME",
                    &user,
                    "set either LOKI_TOKEN or LOKI_USERNAME/LOKI_PASSWORD, not both",
                ));
            }
            (Some(token), None, _) => Some(LokiAuth::Bearer(token)),
            (None, Some(username), Some(password)) => Some(LokiAuth::Basic { username, password }),
            (None, Some(_), None) => {
                return Err(ConfigError::new(
                    "LOKI_PASSWORD",
                    "",
                    "required with LOKI_USERNAME",
                ));
            }
            (None, None, Some(_)) => {
                return Err(ConfigError::new(
                    "LOKI_USERNAME",
                    "",
                    "required with LOKI_PASSWORD",
                ));
            }
            (None, None, None) => None,
        };
        Ok(Self {
            url: http_url("LOKI_URL")?,
            batch_interval: positive("LOKI_BATCH_INTERVAL", DEFAULT_BATCH_INTERVAL)?,
            max_buffer_bytes,
            timeout: positive("LOKI_TIMEOUT", DEFAULT_TIMEOUT)?,
            flush_timeout: positive("LOKI_FLUSH_TIMEOUT", DEFAULT_FLUSH_TIMEOUT)?,
            tenant: var("LOKI_TENANT"),
            auth,
            ..Self::default()
        })
    }
}

/// Adds what every request to Loki carries: the tenant (`X-Scope-OrgID`)
/// and the credentials, when configured.
pub(crate) fn authorize(
    mut request: reqwest::RequestBuilder,
    tenant: Option<&str>,
    auth: Option<&LokiAuth>,
) -> reqwest::RequestBuilder {
    if let Some(tenant) = tenant {
        request = request.header("X-Scope-OrgID", tenant);
    }
    match auth {
        Some(LokiAuth::Basic { username, password }) => {
            request.basic_auth(username, Some(password))
        }
        Some(LokiAuth::Bearer(token)) => request.bearer_auth(token),
        None => request,
    }
}

impl LokiConfig {
    /// [`authorize`] with this configuration's tenant and credentials.
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        authorize(request, self.tenant.as_deref(), self.auth.as_ref())
    }
}

/// `500ms`, `1s`, `1.5s`, `2m`; a bare number is seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const EXPECTED: &str = "expected a duration such as 500ms, 1s, 2.5s or 1m";
        let s = s.trim();
        let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let number: f64 = number.trim().parse().map_err(|_| EXPECTED)?;
        let seconds = match unit.trim() {
            "ms" => number / 1000.0,
            "" | "s" => number,
            "m" => number * 60.0,
            _ => return Err(EXPECTED),
        };
        Duration::try_from_secs_f64(seconds)
            .map(Self)
            .map_err(|_| EXPECTED)
    }
}

/// `64MiB`, `512KiB`, `1GiB`, `64MB`, or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl FromStr for ByteSize {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const EXPECTED: &str = "expected a size such as 64MiB, 512KiB or 1048576";
        let s = s.trim();
        let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let number: usize = number.trim().parse().map_err(|_| EXPECTED)?;
        let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" | "k" => 1 << 10,
            "mib" | "m" => 1 << 20,
            "gib" | "g" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => return Err(EXPECTED),
        };
        number.checked_mul(factor).map(Self).ok_or(EXPECTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(
            "500ms".parse(),
            Ok(HumanDuration(Duration::from_millis(500)))
        );
        assert_eq!("2".parse(), Ok(HumanDuration(Duration::from_secs(2))));
        assert_eq!(
            "1.5s".parse(),
            Ok(HumanDuration(Duration::from_millis(1500)))
        );
        assert!("soon".parse::<HumanDuration>().is_err());
        assert_eq!("64MiB".parse(), Ok(ByteSize(64 << 20)));
        assert_eq!("100000".parse(), Ok(ByteSize(100_000)));
        assert!("lots".parse::<ByteSize>().is_err());
    }

    #[test]
    fn auth_is_hidden_from_debug() {
        let auth = LokiAuth::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        let config = LokiConfig {
            url: Some("https://tenant:hunter2@loki.example.com".to_owned()),
            auth: Some(auth),
            ..LokiConfig::default()
        };
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("loki.example.com"),
            "{debug}"
        );
    }
}
