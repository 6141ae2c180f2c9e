//! Clock skew between this machine and a server: Loki and Prometheus
//! timestamp what they store with their own clock, so a skewed machine
//! (or server) pushes lines Loki refuses as too old, or queries a window
//! where the data is not.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::links;
use crate::{
    probe::Answer,
    report::{Check, Group, Hint},
};

/// Beyond this, ✘. Grafana's "last 5 minutes" survives a few seconds; this
/// catches a clock that drifts before it hides data.
pub const MAX_SKEW: Duration = Duration::from_secs(2);

/// Skew from an answer's `Date` header (1 s resolution: the allowance is one
/// second wider). The answer was dated between the request and the reply;
/// the midpoint is the best estimate of "now" on this machine.
pub fn from_date_header(group: Group, name: &str, answer: &Answer) -> Check {
    let Some(server) = answer
        .headers
        .get("date")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| chrono::DateTime::parse_from_rfc2822(text).ok())
    else {
        return Check::skip(
            group,
            name,
            "no Date header to compare with",
            Hint::new("a proxy strips the Date header", links::CLOCK),
        );
    };
    let server = server.timestamp() as f64;
    let local = now_secs() - answer.elapsed.as_secs_f64() / 2.0;
    // The header truncates to the second: compare with the second's middle.
    line(
        group,
        name,
        server + 0.5 - local,
        MAX_SKEW + Duration::from_millis(500),
        "Date header, 1 s resolution",
    )
}

/// Skew from a server's own time (seconds since the epoch, e.g. PromQL's
/// `time()`), measured at the midpoint of the request.
pub fn from_server_time(group: Group, name: &str, server: f64, elapsed: Duration) -> Check {
    let local = now_secs() - elapsed.as_secs_f64() / 2.0;
    line(group, name, server - local, MAX_SKEW, "API time")
}

fn line(group: Group, name: &str, skew: f64, allowed: Duration, how: &str) -> Check {
    let figure = format!("skew {skew:+.1} s ({how})");
    if skew.abs() <= allowed.as_secs_f64() {
        return Check::pass(group, name, figure);
    }
    let direction = if skew > 0.0 { "ahead of" } else { "behind" };
    Check::fail(
        group,
        name,
        figure,
        Hint::new(
            format!(
                "the server's clock is {:.0} s {direction} this machine's: enable time sync on both (`timedatectl set-ntp true`); a skewed clock hides recent logs and samples",
                skew.abs()
            ),
            links::CLOCK,
        ),
    )
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    #[test]
    fn small_skew_passes_large_skew_fails_with_its_direction() {
        let now = now_secs();
        assert_eq!(
            from_server_time(Group::Metrics, "c", now + 0.3, Duration::ZERO).status,
            Status::Pass
        );
        let ahead = from_server_time(Group::Metrics, "c", now + 3600.0, Duration::ZERO);
        assert_eq!(ahead.status, Status::Fail);
        assert!(ahead.hint.unwrap().text.contains("ahead of"));
    }

    #[test]
    fn date_header_is_read() {
        let mut headers = reqwest::header::HeaderMap::new();
        let date = chrono::Utc::now() - chrono::TimeDelta::seconds(600);
        let value = date.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        headers.insert("date", value.parse().unwrap());
        let answer = Answer {
            status: 200,
            headers,
            body: String::new(),
            elapsed: Duration::ZERO,
        };
        let check = from_date_header(Group::Logs, "Loki clock", &answer);
        assert_eq!(check.status, Status::Fail, "{check:?}");
        assert!(check.figure.contains("skew -"), "{}", check.figure);
    }
}
