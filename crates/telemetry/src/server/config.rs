//! The connection settings of the HTTP server every service runs:
//! `HTTP_HEADER_READ_TIMEOUT_MS`, `HTTP_MAX_CONNECTIONS`.

use std::time::Duration;

use crate::config::env::{ConfigError, parse_or, var};

/// `HTTP_HEADER_READ_TIMEOUT_MS` when unset. Long enough for a client pool
/// or an ingress to reuse an idle keep-alive connection (the same timer
/// bounds the idle wait, see [`ServerConfig::header_read_timeout`]), short
/// enough that a slow client cannot hold a connection for minutes.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// `HTTP_MAX_CONNECTIONS` when unset.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// `HTTP_HEADER_READ_TIMEOUT_MS`: how long the server waits for a
    /// request's head (request line and headers) to arrive in full,
    /// counted from when it starts waiting for it: on a new connection from
    /// the accept, on a kept-alive one from the end of the previous
    /// response. So it is also the HTTP/1 keep-alive idle timeout (hyper
    /// has one timer for both). Past it the connection is closed (408 if
    /// part of a head had arrived).
    pub header_read_timeout: Duration,
    /// `HTTP_MAX_CONNECTIONS`: open connections at most. At the limit the
    /// server stops accepting; new connections wait in the kernel's accept
    /// backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let header_read_timeout = positive(
            "HTTP_HEADER_READ_TIMEOUT_MS",
            millis(defaults.header_read_timeout),
        )?;
        let max_connections = positive("HTTP_MAX_CONNECTIONS", defaults.max_connections as u64)?;
        Ok(Self {
            header_read_timeout: Duration::from_millis(header_read_timeout),
            max_connections: usize::try_from(max_connections).map_err(|error| {
                ConfigError::new("HTTP_MAX_CONNECTIONS", &max_connections.to_string(), error)
            })?,
        })
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A whole number above zero (zero would mean "never wait" or "serve
/// nobody", neither of which is a setting).
fn positive(name: &str, default: u64) -> Result<u64, ConfigError> {
    let value = parse_or(name, default)?;
    if value == 0 {
        let raw = var(name).unwrap_or_default();
        return Err(ConfigError::new(name, &raw, "must be greater than 0"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bound_slow_clients_and_connections() {
        let config = ServerConfig::default();
        assert_eq!(config.header_read_timeout, Duration::from_secs(30));
        assert_eq!(config.max_connections, 1024);
    }
}
