//! Faults on request, for demonstrations in development: `make demo-traffic`
//! sends `X-Demo-Fault` so the dashboards and alerts show what a slow or
//! failing dependency looks like, through the real error paths.
//!
//! - `delay=<ms>`: the request waits that long first, as behind a slow
//!   query (a delay past the gateway's upstream timeout makes it answer 504);
//! - `database`: the request fails as when the connection pool times out
//!   (503 `database_unavailable`, logged at `error` with its cause chain).
//!
//! Honoured only when `DEMO_FAULTS` is on (the default in development, refused
//! in production); otherwise the header is ignored.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{app::AppState, error::ApiError, store::StoreError};

pub const HEADER: &str = "x-demo-fault";
/// The longest delay honoured.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// A fault a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Delay(Duration),
    Database,
}

impl Fault {
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value == "database" {
            return Some(Self::Database);
        }
        let millis: u64 = value
            .strip_prefix("delay=")?
            .trim_end_matches("ms")
            .parse()
            .ok()?;
        Some(Self::Delay(Duration::from_millis(millis).min(MAX_DELAY)))
    }
}

/// Middleware over the API routes (inside the observability layers, so the
/// completion line and the metrics see the fault like any other).
pub async fn inject(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let fault = state
        .demo_faults
        .then(|| {
            request
                .headers()
                .get(HEADER)?
                .to_str()
                .ok()
                .and_then(Fault::parse)
        })
        .flatten();
    match fault {
        None => next.run(request).await,
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Some(Fault::Database) => {
            ApiError::from(StoreError::Query(sqlx::Error::PoolTimedOut)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse() {
        assert_eq!(Fault::parse("database"), Some(Fault::Database));
        assert_eq!(
            Fault::parse("delay=750"),
            Some(Fault::Delay(Duration::from_millis(750)))
        );
        assert_eq!(
            Fault::parse("delay=750ms"),
            Some(Fault::Delay(Duration::from_millis(750)))
        );
        assert_eq!(
            Fault::parse("delay=999999999"),
            Some(Fault::Delay(MAX_DELAY))
        );
        for bad in ["", "delay=", "delay=-1", "slow", "database=1"] {
            assert_eq!(Fault::parse(bad), None, "{bad:?}");
        }
    }
}
