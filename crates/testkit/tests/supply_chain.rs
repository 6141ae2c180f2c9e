//! The supply-chain policy (`deny.toml` at the root) rejects what it claims
//! to. Each test runs `cargo deny` with the repository's `deny.toml` on a
//! throwaway project that differs from a passing control only by the
//! offending dependency: a copyleft licence, a second version of a crate, a
//! git source. The project has path and local-git dependencies only, so
//! nothing is fetched from the network, and it gets its own `CARGO_HOME`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// True when `cargo deny` runs; otherwise a loud skip, or a failure under
/// CI=true.
fn cargo_deny_available() -> bool {
    if Command::new("cargo")
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
    {
        return true;
    }
    let message = "cargo-deny not found (scripts/install-test-deps.sh installs it)";
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}: required when CI=true"
    );
    eprintln!("\n!!! SKIPPED: {message} !!!\n");
    false
}

/// A throwaway project: `probe/` depends on crates written beside it.
struct Probe {
    dir: PathBuf,
    dependencies: Vec<String>,
}

impl Probe {
    fn new(case: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "supply-chain-{case}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            dir,
            dependencies: Vec::new(),
        }
    }

    /// Writes the crate `name` at `version` under `licence` into `folder`.
    fn write_crate(&self, folder: &str, name: &str, version: &str, licence: &str) -> PathBuf {
        let root = self.dir.join(folder);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
                 license = \"{licence}\"\npublish = false\n"
            ),
        )
        .unwrap();
        std::fs::write(root.join("src/lib.rs"), "").unwrap();
        root
    }

    /// A path dependency, under the key `key`, on a new crate.
    fn path_dependency(mut self, key: &str, name: &str, version: &str, licence: &str) -> Self {
        let folder = format!("{key}-src");
        self.write_crate(&folder, name, version, licence);
        self.dependencies.push(format!(
            "{key} = {{ package = \"{name}\", path = \"../{folder}\" }}"
        ));
        self
    }

    /// A git dependency on a new crate committed to a local repository.
    fn git_dependency(mut self, name: &str) -> Self {
        let root = self.write_crate("upstream", name, "0.1.0", "MIT");
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .args([
                    "-c",
                    "user.name=probe",
                    "-c",
                    "user.email=probe@example.invalid",
                ])
                .args(args)
                .current_dir(&root)
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?} failed");
        };
        git(&["init", "-q"]);
        git(&["add", "."]);
        git(&["commit", "-qm", "upstream"]);
        self.dependencies.push(format!(
            "{name} = {{ git = \"file://{}\" }}",
            root.display()
        ));
        self
    }

    /// Runs `cargo deny check <check>` on the project; `offline` unless
    /// the local git dependency has to be cloned.
    fn check(&self, check: &str, offline: bool) -> Output {
        let project = self.dir.join("probe");
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::write(project.join("src/lib.rs"), "").unwrap();
        std::fs::write(
            project.join("Cargo.toml"),
            format!(
                "[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
                 license = \"MIT\"\npublish = false\n\n[workspace]\n\n[dependencies]\n{}\n",
                self.dependencies.join("\n")
            ),
        )
        .unwrap();
        let mut command = Command::new("cargo");
        command.arg("deny");
        if offline {
            command.arg("--offline");
        }
        command
            .arg("--config")
            .arg(repo().join("deny.toml"))
            .args(["check", check])
            .current_dir(&project)
            .env("CARGO_HOME", self.dir.join("cargo-home"))
            .output()
            .unwrap()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_passes(output: &Output) {
    assert!(
        output.status.success(),
        "cargo deny failed:\n{}",
        stderr(output)
    );
}

fn assert_fails_with(output: &Output, needles: &[&str]) {
    let stderr = stderr(output);
    assert!(!output.status.success(), "cargo deny passed:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "no {needle:?} in:\n{stderr}");
    }
}

#[test]
fn control_project_passes_bans_licenses_sources() {
    if !cargo_deny_available() {
        return;
    }
    let probe = Probe::new("control").path_dependency(
        "permissive",
        "permissive",
        "1.0.0",
        "MIT OR Apache-2.0",
    );
    for check in ["bans", "licenses", "sources"] {
        assert_passes(&probe.check(check, true));
    }
}

#[test]
fn gpl_only_dependency_fails_licenses() {
    if !cargo_deny_available() {
        return;
    }
    let probe =
        Probe::new("licence").path_dependency("copyleft", "copyleft", "1.0.0", "GPL-3.0-only");
    assert_fails_with(
        &probe.check("licenses", true),
        &["rejected", "GPL-3.0-only", "copyleft v1.0.0"],
    );
}

#[test]
fn second_version_of_a_crate_fails_bans() {
    if !cargo_deny_available() {
        return;
    }
    let probe = Probe::new("duplicate")
        .path_dependency("old", "twice", "1.0.0", "MIT")
        .path_dependency("new", "twice", "2.0.0", "MIT");
    assert_fails_with(
        &probe.check("bans", true),
        &["duplicate entries for crate 'twice'"],
    );
}

#[test]
fn git_dependency_fails_sources() {
    if !cargo_deny_available() {
        return;
    }
    let probe = Probe::new("git").git_dependency("fetched");
    assert_fails_with(
        &probe.check("sources", false),
        &["source-not-allowed", "fetched"],
    );
}
