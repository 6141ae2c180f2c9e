//! Backend: the REST API over the community's database.

use std::process::ExitCode;

use backend::{SERVICE, app, config::Config};

fn main() -> ExitCode {
    telemetry::config::load_dotenv();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => return telemetry::config::exit_on_error(&error),
    };
    telemetry::service::run(SERVICE, config.telemetry.clone(), |_| app::serve(config))
}
