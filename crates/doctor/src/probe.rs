//! HTTP for the checks: one client with a short timeout, answers read
//! whole, failures sorted into what a hint can speak about.

use std::time::{Duration, Instant};

use crate::{
    config::Endpoint,
    report::{Check, Group, Hint},
};

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// Nothing listens there.
    Refused,
    /// No answer within the timeout.
    Timeout(Duration),
    /// The host name does not resolve.
    UnknownHost,
    Other(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused => f.write_str("connection refused"),
            Self::Timeout(after) => write!(f, "no answer within {}", seconds(*after)),
            Self::UnknownHost => f.write_str("host name does not resolve"),
            Self::Other(detail) => f.write_str(detail),
        }
    }
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub elapsed: Duration,
}

impl Answer {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The body on one short line (for figures).
    pub fn body_line(&self) -> String {
        one_line(&self.body, 160)
    }
}

/// The shared HTTP client.
#[derive(Debug, Clone)]
pub struct Probe {
    client: reqwest::Client,
    pub timeout: Duration,
}

impl Probe {
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        // reqwest is built with rustls and no crypto provider of its own.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self { client, timeout })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub async fn get(&self, url: &str) -> Result<Answer, ProbeError> {
        self.send(self.client.get(url)).await
    }

    /// Sends `request` and reads the whole answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, ProbeError> {
        let started = Instant::now();
        let response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| self.classify(&e))?;
        Ok(Answer {
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        })
    }

    /// Sends `request` and returns the status and the raw body.
    pub async fn send_bytes(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), ProbeError> {
        let response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| self.classify(&e))?;
        Ok((status, body.to_vec()))
    }

    fn classify(&self, error: &reqwest::Error) -> ProbeError {
        if error.is_timeout() {
            return ProbeError::Timeout(self.timeout);
        }
        let chain = error_chain(error);
        if chain.contains("Connection refused") || chain.contains("connection refused") {
            ProbeError::Refused
        } else if chain.contains("dns error") || chain.contains("failed to lookup") {
            ProbeError::UnknownHost
        } else {
            ProbeError::Other(one_line(&chain, 160))
        }
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `text` on one line, cut at `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// `0.4 s`, `12 ms`.
pub fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// The line for a stack component that does not answer. When its variable
/// is unset and nothing listens at the default address, the component is
/// simply not running: `–`, with the command that starts it. Otherwise ✘.
pub fn unreachable(
    group: Group,
    name: &str,
    endpoint: &Endpoint,
    error: &ProbeError,
    link: &'static str,
) -> Check {
    if !endpoint.explicit && *error == ProbeError::Refused {
        return Check::skip(
            group,
            name,
            format!(
                "not running at {} (default; {} unset)",
                endpoint.url, endpoint.var
            ),
            Hint::new(
                format!(
                    "start the stack with `make stack-up`, or set {} to where it runs",
                    endpoint.var
                ),
                link,
            ),
        );
    }
    Check::fail(
        group,
        name,
        format!("unreachable at {}: {error}", endpoint.url),
        Hint::new(
            format!(
                "nothing answers at {} ({}): start the stack with `make stack-up` (`docker compose ps` shows what runs), or fix {}",
                endpoint.var, endpoint.url, endpoint.var
            ),
            link,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_endpoint_not_running_is_skipped_set_one_fails() {
        let mut endpoint = Endpoint {
            url: "http://localhost:9090".into(),
            var: "PROMETHEUS_URL",
            explicit: false,
        };
        let check = unreachable(
            Group::Metrics,
            "Prometheus",
            &endpoint,
            &ProbeError::Refused,
            "x",
        );
        assert_eq!(check.status, crate::report::Status::Skip);
        assert!(check.hint.unwrap().text.contains("make stack-up"));
        endpoint.explicit = true;
        let check = unreachable(
            Group::Metrics,
            "Prometheus",
            &endpoint,
            &ProbeError::Refused,
            "x",
        );
        assert_eq!(check.status, crate::report::Status::Fail);
        assert!(
            check.figure.contains("connection refused"),
            "{}",
            check.figure
        );
    }

    #[test]
    fn long_bodies_become_one_short_line() {
        assert_eq!(one_line("a\n  b\tc", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(seconds(Duration::from_millis(12)), "12 ms");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
