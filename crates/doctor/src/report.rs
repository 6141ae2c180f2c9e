//! The outcome of every check: one line each, grouped, with the fix for
//! each failure.

use std::time::Duration;

use serde::Serialize;

/// The sections of the report, in the order they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Services,
    Logs,
    Metrics,
    Traces,
    Dashboards,
    Alerts,
}

impl Group {
    pub const ALL: [Self; 6] = [
        Self::Services,
        Self::Logs,
        Self::Metrics,
        Self::Traces,
        Self::Dashboards,
        Self::Alerts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Services => "services",
            Self::Logs => "logs",
            Self::Metrics => "metrics",
            Self::Traces => "traces",
            Self::Dashboards => "dashboards",
            Self::Alerts => "alerts",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// ✔
    Pass,
    /// ✘
    Fail,
    /// – (not configured, or not running where nothing asked for it)
    Skip,
}

/// The most likely cause and its fix, in one line, and where to read more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hint {
    pub text: String,
    /// A path in the repository (`docs/…`, with an anchor).
    pub link: &'static str,
}

impl Hint {
    pub fn new(text: impl Into<String>, link: &'static str) -> Self {
        Self {
            text: text.into(),
            link,
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub group: Group,
    pub name: String,
    pub status: Status,
    /// What was measured (`ready in 4 ms`, `3/3 up`, `skew +0.2 s`).
    pub figure: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<Hint>,
}

impl Check {
    pub fn pass(group: Group, name: impl Into<String>, figure: impl Into<String>) -> Self {
        Self {
            group,
            name: name.into(),
            status: Status::Pass,
            figure: figure.into(),
            hint: None,
        }
    }

    pub fn fail(
        group: Group,
        name: impl Into<String>,
        figure: impl Into<String>,
        hint: Hint,
    ) -> Self {
        Self {
            group,
            name: name.into(),
            status: Status::Fail,
            figure: figure.into(),
            hint: Some(hint),
        }
    }

    pub fn skip(
        group: Group,
        name: impl Into<String>,
        figure: impl Into<String>,
        hint: Hint,
    ) -> Self {
        Self {
            group,
            name: name.into(),
            status: Status::Skip,
            figure: figure.into(),
            hint: Some(hint),
        }
    }
}

/// Every check, grouped, and how long the whole run took.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub elapsed_ms: u64,
    pub checks: Vec<Check>,
}

impl Report {
    /// Sorts `checks` by group, keeping each group's own order.
    pub fn new(mut checks: Vec<Check>, elapsed: Duration) -> Self {
        checks.sort_by_key(|check| check.group);
        let count = |status: Status| checks.iter().filter(|c| c.status == status).count();
        let failed = count(Status::Fail);
        Self {
            ok: failed == 0,
            passed: count(Status::Pass),
            failed,
            skipped: count(Status::Skip),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            checks,
        }
    }

    /// The process exit code: 0 when nothing failed, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_grouped_in_order_and_a_failure_sets_the_exit_code() {
        let hint = Hint::new("fix", "docs/monitoring.md");
        let report = Report::new(
            vec![
                Check::pass(Group::Alerts, "rules", "3 rules"),
                Check::fail(Group::Services, "backend", "down", hint.clone()),
                Check::skip(Group::Logs, "Loki", "not configured", hint),
                Check::pass(Group::Services, "gateway", "ok"),
            ],
            Duration::from_millis(12),
        );
        let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["backend", "gateway", "Loki", "rules"]);
        assert_eq!((report.passed, report.failed, report.skipped), (2, 1, 1));
        assert_eq!(report.exit_code(), 1);
        assert_eq!(Report::new(Vec::new(), Duration::ZERO).exit_code(), 0);
    }
}
