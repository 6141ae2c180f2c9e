//! Counting what happened: requests by status and kind, latency percentiles.

use std::{collections::BTreeMap, fmt, sync::Mutex, time::Duration};

use crate::plan::{Kind, Planned, SLOW_THRESHOLD};

/// Latency samples kept at most; past it, the newest replace the oldest, so
/// a very long run keeps bounded memory and recent percentiles.
const MAX_SAMPLES: usize = 1_000_000;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    /// No HTTP answer: `timeout`, `connect` or `other`.
    Failed(&'static str),
}

impl Outcome {
    pub fn label(self) -> String {
        match self {
            Self::Status(status) => status.to_string(),
            Self::Failed(reason) => format!("error:{reason}"),
        }
    }
}

#[derive(Default)]
struct Counts {
    by_status: BTreeMap<String, u64>,
    by_kind: BTreeMap<&'static str, u64>,
    latencies: Vec<Duration>,
    caused: Caused,
    recorded: u64,
    skipped: u64,
}

/// Shared by the request tasks.
#[derive(Default)]
pub struct Recorder(Mutex<Counts>);

/// What the requests made the services do, as the dashboards show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caused {
    /// 5xx answers (each logged at `error` by the service that failed).
    pub server_errors: u64,
    /// 4xx answers (logged at `warn`).
    pub client_errors: u64,
    /// Requests slower than the cookbook's 500 ms.
    pub slow: u64,
    /// Moderation actions recorded (201).
    pub moderation_actions: u64,
    /// Discord events accepted by the gateway (202).
    pub events: u64,
    /// The calls a bot command makes, answered 2xx.
    pub command_calls: u64,
}

impl Caused {
    fn add(&mut self, planned: &Planned, outcome: Outcome, latency: Duration) {
        let Outcome::Status(status) = outcome else {
            return;
        };
        let ok = (200..300).contains(&status);
        self.server_errors += u64::from(status >= 500);
        self.client_errors += u64::from((400..500).contains(&status));
        self.slow += u64::from(latency > SLOW_THRESHOLD);
        self.moderation_actions += u64::from(planned.kind == Kind::ModerationPost && status == 201);
        if planned.kind == Kind::Events && status == 202 {
            self.events += planned.events;
        }
        self.command_calls += u64::from(planned.kind.is_command_call() && ok);
    }
}

impl Recorder {
    pub fn record(&self, planned: &Planned, outcome: Outcome, latency: Duration) {
        let kind = planned.kind;
        if let Ok(mut counts) = self.0.lock() {
            counts.caused.add(planned, outcome, latency);
            *counts.by_status.entry(outcome.label()).or_default() += 1;
            *counts.by_kind.entry(kind.as_str()).or_default() += 1;
            let slot = usize::try_from(counts.recorded).unwrap_or(usize::MAX) % MAX_SAMPLES;
            if counts.latencies.len() < MAX_SAMPLES {
                counts.latencies.push(latency);
            } else {
                counts.latencies[slot] = latency;
            }
            counts.recorded += 1;
        }
    }

    /// A request not sent because too many were already in flight.
    pub fn skip(&self) {
        if let Ok(mut counts) = self.0.lock() {
            counts.skipped += 1;
        }
    }

    pub fn summary(&self, elapsed: Duration) -> Summary {
        let Ok(counts) = self.0.lock() else {
            return Summary::default();
        };
        let mut sorted = counts.latencies.clone();
        sorted.sort_unstable();
        Summary {
            requests: counts.recorded,
            skipped: counts.skipped,
            elapsed,
            by_status: counts.by_status.clone(),
            by_kind: counts
                .by_kind
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            caused: counts.caused,
            p50: percentile(&sorted, 0.50),
            p95: percentile(&sorted, 0.95),
            p99: percentile(&sorted, 0.99),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Requests that got an answer or failed (not the skipped ones).
    pub requests: u64,
    pub skipped: u64,
    pub elapsed: Duration,
    /// `"200"`, `"404"`, `"error:timeout"`...
    pub by_status: BTreeMap<String, u64>,
    pub by_kind: BTreeMap<String, u64>,
    pub caused: Caused,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// Requests answered with a status in `class` (2 for 2xx...).
    pub fn class(&self, class: u8) -> u64 {
        let prefix = class.to_string();
        self.by_status
            .iter()
            .filter(|(status, _)| status.starts_with(&prefix) && status.len() == 3)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn errors(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|(status, _)| status.starts_with("error:"))
            .map(|(_, n)| n)
            .sum()
    }

    /// One line for the live display.
    pub fn progress_line(&self, total: Duration) -> String {
        format!(
            "[{:>5.1}s/{:.0}s] {} requests · 2xx {} · 4xx {} · 5xx {} · errors {} · p95 {}",
            self.elapsed.as_secs_f64(),
            total.as_secs_f64(),
            self.requests,
            self.class(2),
            self.class(4),
            self.class(5),
            self.errors(),
            millis(self.p95),
        )
    }
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn join(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(f64::EPSILON);
        writeln!(
            f,
            "{} requests in {:.1}s ({:.1}/s), {} skipped (too many in flight)",
            self.requests,
            secs,
            self.requests as f64 / secs,
            self.skipped
        )?;
        writeln!(f, "by status:  {}", join(&self.by_status))?;
        writeln!(f, "by kind:    {}", join(&self.by_kind))?;
        let c = &self.caused;
        writeln!(
            f,
            "caused:     server errors (5xx) {} · client errors (4xx) {} · slow requests (>500 ms) {} · \
             moderation actions {} · events accepted {} · bot command calls {}",
            c.server_errors,
            c.client_errors,
            c.slow,
            c.moderation_actions,
            c.events,
            c.command_calls
        )?;
        write!(
            f,
            "latency:    p50 {} · p95 {} · p99 {} · max {}",
            millis(self.p50),
            millis(self.p95),
            millis(self.p99),
            millis(self.max)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(kind: Kind) -> Planned {
        Planned {
            kind,
            method: "GET",
            path: "/".into(),
            body: None,
            fault: None,
            events: 3,
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let recorder = Recorder::default();
        for ms in 1..=100 {
            recorder.record(
                &planned(Kind::Stats),
                Outcome::Status(200),
                Duration::from_millis(ms),
            );
        }
        recorder.record(
            &planned(Kind::BadId),
            Outcome::Status(400),
            Duration::from_millis(500),
        );
        recorder.record(
            &planned(Kind::Stats),
            Outcome::Failed("timeout"),
            Duration::from_secs(1),
        );
        let summary = recorder.summary(Duration::from_secs(1));
        assert_eq!(summary.requests, 102);
        assert_eq!(summary.p50, Duration::from_millis(51));
        assert_eq!(summary.p99, Duration::from_millis(500));
        assert_eq!(summary.max, Duration::from_secs(1));
        assert_eq!(
            (summary.class(2), summary.class(4), summary.errors()),
            (100, 1, 1)
        );
        assert_eq!(summary.by_kind["stats"], 101);
        assert_eq!(
            (
                summary.caused.command_calls,
                summary.caused.client_errors,
                summary.caused.slow
            ),
            (100, 1, 0)
        );
        let text = summary.to_string();
        assert!(
            text.contains("by status:  200 100 · 400 1 · error:timeout 1"),
            "{text}"
        );
    }
}
