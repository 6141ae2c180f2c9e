//! The report as text (one line per check, grouped, a hint under each ✘ and
//! –) or as JSON.

use std::fmt::Write as _;

use crate::report::{Group, Report, Status};

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Width of the check-name column.
const NAME_WIDTH: usize = 26;

/// The human report; ANSI colours when `color` (see
/// `telemetry::logging::console::color_from_env`).
pub fn text(report: &Report, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    for group in Group::ALL {
        let checks: Vec<_> = report.checks.iter().filter(|c| c.group == group).collect();
        if checks.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}", paint(BOLD, group.as_str()));
        for check in checks {
            let symbol = match check.status {
                Status::Pass => paint(GREEN, "✔"),
                Status::Fail => paint(RED, "✘"),
                Status::Skip => paint(DIM, "–"),
            };
            let _ = writeln!(
                out,
                "  {symbol} {:<NAME_WIDTH$} {}",
                check.name, check.figure
            );
            if let Some(hint) = &check.hint
                && check.status != Status::Pass
            {
                let _ = writeln!(
                    out,
                    "      {}",
                    paint(DIM, &format!("→ {}  [{}]", hint.text, hint.link))
                );
            }
        }
    }
    let summary = format!(
        "{} passed, {} failed, {} not configured or not running ({} ms)",
        report.passed, report.failed, report.skipped, report.elapsed_ms
    );
    let _ = writeln!(
        out,
        "\n{}",
        if report.ok {
            paint(GREEN, &summary)
        } else {
            paint(RED, &summary)
        }
    );
    out
}

/// The machine report: `{ok, passed, failed, skipped, elapsed_ms, checks}`.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|error| {
        // Only plain strings and numbers: serialisation cannot fail.
        format!("{{\"ok\":false,\"error\":\"{error}\"}}")
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::{Check, Hint};

    fn sample() -> Report {
        Report::new(
            vec![
                Check::pass(Group::Services, "backend /live", "ok in 3 ms"),
                Check::fail(
                    Group::Logs,
                    "Loki /ready",
                    "unreachable",
                    Hint::new("make stack-up", "docs/monitoring.md#x"),
                ),
            ],
            Duration::from_millis(40),
        )
    }

    #[test]
    fn text_has_one_line_per_check_and_the_hint_under_a_failure() {
        let text = text(&sample(), false);
        assert!(text.contains("services\n  ✔ backend /live"), "{text}");
        assert!(text.contains("  ✘ Loki /ready"), "{text}");
        assert!(
            text.contains("      → make stack-up  [docs/monitoring.md#x]"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "no colour asked: {text}");
        assert!(text.contains("1 passed, 1 failed"), "{text}");
    }

    #[test]
    fn colour_wraps_the_symbols() {
        let text = text(&sample(), true);
        assert!(text.contains("\x1b[32m✔\x1b[0m"), "{text}");
        assert!(text.contains("\x1b[31m✘\x1b[0m"), "{text}");
    }

    #[test]
    fn json_lists_every_check_with_its_status() {
        let value: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(value["ok"], false);
        assert_eq!(value["checks"][1]["status"], "fail");
        assert_eq!(value["checks"][1]["group"], "logs");
        assert_eq!(value["checks"][1]["hint"]["link"], "docs/monitoring.md#x");
    }
}
