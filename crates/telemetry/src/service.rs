//! The common skeleton of a service binary: runtime, telemetry, run, flush.

use std::{fmt::Display, future::Future, process::ExitCode};

use crate::{ServiceInfo, Telemetry, TelemetryConfig};

/// Builds the Tokio runtime, installs telemetry, runs `serve` to completion
/// and flushes telemetry. An error from `serve` is logged and printed as one
/// line on stderr; the exit code is then 1.
pub fn run<F, Fut, E>(service: ServiceInfo, config: TelemetryConfig, serve: F) -> ExitCode
where
    F: FnOnce(&Telemetry) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{}: cannot start the async runtime: {error}", service.name);
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let telemetry = match crate::init(service, config) {
            Ok(telemetry) => telemetry,
            Err(error) => {
                eprintln!("{}: cannot install telemetry: {error}", service.name);
                return ExitCode::FAILURE;
            }
        };
        let outcome = serve(&telemetry).await;
        let code = match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(context = "Bootstrap", error = %error, "{} failed", service.name);
                eprintln!("{}: {error}", service.name);
                ExitCode::FAILURE
            }
        };
        telemetry.shutdown().await;
        code
    })
}
