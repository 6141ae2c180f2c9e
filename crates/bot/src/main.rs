//! Bot: the Discord bot, with a small HTTP server for probes and metrics.

use std::process::ExitCode;

use bot::{SERVICE, app, config};

fn main() -> ExitCode {
    telemetry::config::load_dotenv();
    let config = match config::Config::from_env() {
        Ok(config) => config,
        Err(error) => return telemetry::config::exit_on_error(&error),
    };
    telemetry::service::run(SERVICE, config.telemetry.clone(), |_| app::serve(config))
}
