//! The gateway with no telemetry at all (no subscriber, no observability
//! layers): the `bare` baseline of `make bench-load`, what the proxy path
//! costs on this machine. Never deployed.

use std::process::ExitCode;

use gateway::{SERVICE, app, config::Config};

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => return telemetry::config::exit_on_error(&error),
    };
    telemetry::service::run_bare(SERVICE, app::serve_with(config, app::bare_router))
}
