//! Stamps the git commit into the binary for `build_info{git_sha}`.
//!
//! `GIT_SHA` (e.g. a Docker build argument) wins; otherwise `git rev-parse`
//! when the source is a checkout; otherwise "unknown" (set in code).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_SHA");
    if let Some(sha) = std::env::var("GIT_SHA")
        .ok()
        .filter(|sha| !sha.trim().is_empty())
    {
        println!("cargo:rustc-env=BUILD_GIT_SHA={}", sha.trim());
        return;
    }
    let Some(sha) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return;
    };
    println!("cargo:rustc-env=BUILD_GIT_SHA={sha}");
    // Rebuild when a commit moves HEAD or the branch it points to (works in
    // worktrees too, where these files live outside `.git/`).
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for path in watched {
        // A missing file would make cargo rerun this script on every build.
        if let Some(file) = git(&["rev-parse", "--git-path", &path])
            && std::path::Path::new(&file).exists()
        {
            println!("cargo:rerun-if-changed={file}");
        }
    }
}
