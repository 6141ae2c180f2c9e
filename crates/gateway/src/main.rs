//! Gateway: the edge between clients, the bot and the backend.

use std::process::ExitCode;

use gateway::{SERVICE, app, config::Config};

fn main() -> ExitCode {
    telemetry::config::load_dotenv();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => return telemetry::config::exit_on_error(&error),
    };
    telemetry::service::run(SERVICE, config.telemetry.clone(), |_| app::serve(config))
}
