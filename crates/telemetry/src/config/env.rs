//! Reading the environment: the helpers every settings reader uses, and
//! the deployment [`Environment`]. A leaf: it depends on nothing else in
//! the crate but [`crate::secrets`], so each concern's settings (`LOKI_*` in the Loki module,
//! `OTEL_*` in the trace module) read with it without a cycle.
//!
//! Every reader names the variable it read in its error, so a bad value stops
//! the process with one line that says what to fix (see [`exit_on_error`]).

use std::{fmt, process::ExitCode, str::FromStr};

use crate::secrets::{is_secret_variable, sanitize_url, sanitize_urls_in};

/// Exit code for invalid configuration (as `sysexits`' EX_USAGE family: 2).
pub const CONFIG_EXIT_CODE: u8 = 2;

/// An environment variable holds a value the service cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: String,
    /// The value as it may be printed: `[redacted]` for a secret variable,
    /// URLs without their credentials.
    pub value: String,
    pub reason: String,
}

/// What a secret variable's value is printed as.
pub const REDACTED_VALUE: &str = "[redacted]";

impl ConfigError {
    /// The error for `var`; `value` and `reason` are made printable here
    /// (see [`ConfigError::value`]), so no caller can leak a secret in the
    /// startup error line.
    pub fn new(var: &str, value: &str, reason: impl fmt::Display) -> Self {
        let value = if is_secret_variable(var) {
            REDACTED_VALUE.to_owned()
        } else {
            sanitize_url(value).into_owned()
        };
        let reason = reason.to_string();
        Self {
            var: var.to_owned(),
            value,
            reason: sanitize_urls_in(&reason).unwrap_or(reason),
        }
    }
}

/// Prints the error as one line on stderr and returns exit code 2.
pub fn exit_on_error(error: &ConfigError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(CONFIG_EXIT_CODE)
}

/// Loads `./.env` into the environment when present, without overriding
/// variables already set. Skipped in production, where the platform owns the
/// environment.
pub fn load_dotenv() {
    if std::env::var("ENVIRONMENT").is_ok_and(|e| e.eq_ignore_ascii_case("production")) {
        return;
    }
    // A missing file is the normal case; a malformed one is reported by
    // dotenvy's error, which names the line.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("warning: ignoring .env: {error}");
    }
}

/// The raw value of `var`, `None` when unset or empty (empty means "default").
pub fn var(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// Parses `var` with [`FromStr`], or returns `default` when unset.
pub fn parse_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| ConfigError::new(name, &raw, e)),
    }
}

/// A TCP port from `var` (first set wins), or `default`.
pub fn port(vars: &[&str], default: u16) -> Result<u16, ConfigError> {
    for name in vars {
        if var(name).is_some() {
            return parse_or(name, default);
        }
    }
    Ok(default)
}

/// An absolute `http(s)://` URL without a trailing slash, `None` when unset.
pub fn http_url(name: &str) -> Result<Option<String>, ConfigError> {
    let Some(raw) = var(name) else {
        return Ok(None);
    };
    validate_http_url(&raw)
        .map(|()| Some(raw.trim().trim_end_matches('/').to_owned()))
        .map_err(|reason| ConfigError::new(name, &raw, reason))
}

/// An `http(s)://` URL with a default.
pub fn http_url_or(name: &str, default: &str) -> Result<String, ConfigError> {
    Ok(http_url(name)?.unwrap_or_else(|| default.to_owned()))
}

fn validate_http_url(raw: &str) -> Result<(), &'static str> {
    let rest = raw
        .trim()
        .strip_prefix("http://")
        .or_else(|| raw.trim().strip_prefix("https://"))
        .ok_or("expected an http:// or https:// URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (host, None),
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("the URL has no host");
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err("the URL's port is not a number between 0 and 65535");
    }
    Ok(())
}

/// Deployment environment (`ENVIRONMENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Self::Development),
            "staging" => Ok(Self::Staging),
            "production" | "prod" => Ok(Self::Production),
            _ => Err("expected development, staging or production"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_for_scheme_host_and_port() {
        assert!(validate_http_url("http://localhost:3000").is_ok());
        assert!(validate_http_url("https://loki.example.com/").is_ok());
        assert!(validate_http_url("http://[::1]:3100").is_ok());
        assert!(validate_http_url("localhost:3000").is_err());
        assert!(validate_http_url("http://").is_err());
        assert!(validate_http_url("http://host:99999").is_err());
        assert!(validate_http_url("ftp://host").is_err());
    }

    #[test]
    fn error_names_variable_and_value() {
        let error = ConfigError::new("PORT", "abc", "invalid digit found in string");
        assert_eq!(
            error.to_string(),
            r#"invalid configuration: PORT="abc": invalid digit found in string"#
        );
    }

    #[test]
    fn errors_never_echo_a_secret() {
        let error = ConfigError::new("GATEWAY_API_KEYS", "k1,hunter2", "expected keys");
        assert_eq!(error.value, REDACTED_VALUE);
        let error = ConfigError::new(
            "DATABASE_URL",
            "mysql://app:hunter2@db/app",
            "expected a sqlite: or postgres:// URL",
        );
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(
            error
                .to_string()
                .contains("mysql://REDACTED:REDACTED@db/app"),
            "{error}"
        );
        let error = ConfigError::new("LOKI_URL", "x", "bad http://u:hunter2@h");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn environment_parses_case_insensitively() {
        assert_eq!("PRODUCTION".parse(), Ok(Environment::Production));
        assert!("moon".parse::<Environment>().is_err());
    }
}
