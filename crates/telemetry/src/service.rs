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
    let Some(runtime) = runtime(service) else {
        return ExitCode::FAILURE;
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

/// [`run`] with no telemetry installed at all (no subscriber: every
/// `tracing` macro is a no-op). For the load benchmark's `bare` baseline
/// only, which measures what the handler and store cost without it.
pub fn run_bare<Fut, E>(service: ServiceInfo, serve: Fut) -> ExitCode
where
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let Some(runtime) = runtime(service) else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}: {error}", service.name);
            ExitCode::FAILURE
        }
    }
}

fn runtime(service: ServiceInfo) -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| eprintln!("{}: cannot start the async runtime: {error}", service.name))
        .ok()
}
