//! Stamps the git commit into the binary for `build_info{git_sha}`.
//!
//! `GIT_SHA` (e.g. a Docker build argument) wins; otherwise `git rev-parse`
//! when the source is a checkout; otherwise "unknown" (set in code).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_SHA");
    let sha = std::env::var("GIT_SHA")
        .ok()
        .filter(|sha| !sha.trim().is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|output| output.status.success())
                .and_then(|output| String::from_utf8(output.stdout).ok())
        });
    if let Some(sha) = sha {
        println!("cargo:rustc-env=BUILD_GIT_SHA={}", sha.trim());
    }
}
