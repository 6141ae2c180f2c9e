//! `make dev-all`: backend, gateway and bot in one terminal, each line on
//! screen as soon as a service writes it, marked with the service's badge.
//! Ctrl-C (or SIGTERM, SIGHUP) sends each service exactly one SIGTERM and
//! waits for their graceful shutdown; a second Ctrl-C kills them. A service
//! that exits is reported with its code while the others keep running.
//!
//!   dev-all                   the three services
//!   dev-all backend gateway   only these
//!
//! The binaries are taken next to this one (`target/<profile>/`), which is
//! what `scripts/dev-all.sh` builds.

mod lines;
mod screen;
mod supervisor;

use std::{io::IsTerminal as _, process::ExitCode};

use anyhow::Context as _;

const SERVICES: [&str; 3] = ["backend", "gateway", "bot"];

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("dev-all: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<u8> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg.starts_with('-')) {
        println!(
            "usage: dev-all [service ...]   (default: {})",
            SERVICES.join(" ")
        );
        return Ok(if args.iter().any(|a| a == "-h" || a == "--help") {
            0
        } else {
            2
        });
    }
    let services: Vec<String> = if args.is_empty() {
        SERVICES.iter().map(|&name| name.to_owned()).collect()
    } else {
        args
    };
    let exe = std::env::current_exe().context("cannot locate the dev-all binary")?;
    let bin_dir = exe
        .parent()
        .context("the dev-all binary has no directory")?;
    let color = telemetry::logging::console::color_from_env(std::io::stdout().is_terminal());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (screen, writer) = screen::Screen::open();
    let code = runtime.block_on(supervisor::run(&services, bin_dir, color, screen));
    // Every pump and the runner's messages are done: the writer drains what
    // is queued and ends.
    drop(runtime);
    let _ = writer.join();
    Ok(code)
}
