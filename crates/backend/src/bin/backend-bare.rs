//! The backend with no telemetry at all (no subscriber, no observability
//! layers): the `bare` baseline of `make bench-load`, what the handler and
//! the store cost on this machine. Never deployed.

use std::process::ExitCode;

use backend::{SERVICE, app, config::Config};

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => return telemetry::config::exit_on_error(&error),
    };
    telemetry::service::run_bare(SERVICE, app::serve_with(config, app::bare_router))
}
