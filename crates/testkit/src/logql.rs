//! Grafana's LogQL grammar from a test: `infrastructure/checks/against-output.mjs`
//! (Node, `@grafana/lezer-logql`) holds every LogQL query of the docs, the
//! dashboards and the Loki rules against lines a test captured.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

use crate::loki::ReceivedEntry;

/// The repository's `infrastructure/checks` directory.
pub fn checks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infrastructure/checks")
}

/// True when `node` and the checks' npm packages are there. When they are
/// not, a test skips with a loud message, except under `CI=true` where it
/// fails (`make check-infra`, run by `make test` first, installs them).
pub fn available() -> bool {
    let node = Command::new("node").arg("--version").output().is_ok();
    let packages = checks_dir()
        .join("node_modules/@grafana/lezer-logql")
        .exists();
    if node && packages {
        return true;
    }
    let message = if node {
        "the npm packages of infrastructure/checks are not installed (run `make check-infra`)"
    } else {
        "node is not installed (scripts/install-test-deps.sh installs it)"
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}: required when CI=true"
    );
    eprintln!("\n!!! SKIPPED: {message} !!!\n");
    false
}

/// What the check said.
pub struct Verdict {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Writes `entries` as `{"labels", "line"}` lines and runs the check on them.
pub fn hold_queries_against(entries: &[ReceivedEntry]) -> Verdict {
    let file = std::env::temp_dir().join(format!("captured-{}.jsonl", std::process::id()));
    {
        let mut out = std::fs::File::create(&file)
            .unwrap_or_else(|error| panic!("create {}: {error}", file.display()));
        for entry in entries {
            let record = serde_json::json!({
                "labels": entry.labels,
                "metadata": entry.structured_metadata,
                "line": entry.line,
            });
            writeln!(out, "{record}").unwrap_or_else(|error| panic!("write: {error}"));
        }
    }
    let output = Command::new("node")
        .arg("against-output.mjs")
        .arg(&file)
        .current_dir(checks_dir())
        .output()
        .unwrap_or_else(|error| panic!("node against-output.mjs: {error}"));
    let ok = output.status.success();
    let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if ok {
        let _ = std::fs::remove_file(&file);
    } else {
        // Kept, to rerun the check by hand while fixing the queries.
        stderr.push_str(&format!(
            "captured lines kept in {} (rerun: cd infrastructure/checks && node against-output.mjs {0})\n",
            file.display()
        ));
    }
    Verdict {
        ok,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    }
}
