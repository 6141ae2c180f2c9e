//! A check that a dependency answers `GET url` with a 2xx status.

use std::time::Duration;

use super::check::{BoxFuture, Check, CheckOutcome, Criticality};

/// `GET url` must answer 2xx. The request carries its own timeout a little
/// below the registry's default so the message names the cause.
pub struct HttpCheck {
    name: String,
    url: String,
    criticality: Criticality,
    client: Result<reqwest::Client, String>,
}

/// See [`HttpCheck`].
pub fn http_check(
    name: impl Into<String>,
    url: impl Into<String>,
    criticality: Criticality,
) -> HttpCheck {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .map_err(|error| format!("cannot build the HTTP client: {error}"));
    HttpCheck {
        name: name.into(),
        url: url.into(),
        criticality,
        client,
    }
}

impl Check for HttpCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn criticality(&self) -> Criticality {
        self.criticality
    }

    fn check(&self) -> BoxFuture<'_, CheckOutcome> {
        Box::pin(async move {
            let client = match &self.client {
                Ok(client) => client,
                Err(error) => return CheckOutcome::failed(error.clone()),
            };
            match client.get(&self.url).send().await {
                Ok(response) if response.status().is_success() => CheckOutcome::ok(),
                Ok(response) => failed(format!(
                    "GET {} answered {}",
                    self.url,
                    response.status().as_u16()
                )),
                Err(error) => failed(format!("GET {} failed: {}", self.url, error_chain(&error))),
            }
        })
    }
}

/// A failure whose message quotes the URL (reqwest's errors do too):
/// printed without the URL's credentials.
fn failed(message: String) -> CheckOutcome {
    CheckOutcome::failed(crate::secrets::sanitize_urls_in(&message).unwrap_or(message))
}

/// The error and its sources on one line ("connection refused" sits deep in
/// reqwest's chain).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
