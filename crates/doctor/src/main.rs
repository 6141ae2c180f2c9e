//! `doctor [--json] [--timeout 2s]`: exit 0 when no check failed, 1 when
//! one did, 2 on a bad argument or configuration value.

use std::{io::IsTerminal as _, process::ExitCode, time::Duration};

use doctor::{checks, config::DoctorConfig, probe::Probe, render};
use telemetry::{
    config::{exit_on_error, load_dotenv},
    logging::{console::color_from_env, loki::HumanDuration},
};

const USAGE: &str = "\
usage: doctor [--json] [--timeout DURATION]

Checks the services (/live, /ready, /health) and the observability stack
(Loki, Prometheus, Tempo, Grafana, Alertmanager) with the configuration the
services read (.env and the environment), and prints one line per check:
✔ passed, ✘ failed (with the likely cause and fix), – not configured.

  --json              the report as JSON
  --timeout DURATION  longest wait per request, e.g. 500ms or 5s (default 2s)

Exit code: 0 when nothing failed, 1 otherwise, 2 on a bad argument.";

struct Args {
    json: bool,
    timeout: Duration,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        json: false,
        timeout: doctor::config::DEFAULT_TIMEOUT,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--json" => args.json = true,
            "-h" | "--help" => return Ok(None),
            "--timeout" => {
                let value = iter.next().ok_or("--timeout needs a duration, e.g. 5s")?;
                let HumanDuration(timeout) = value
                    .parse()
                    .map_err(|reason| format!("--timeout {value:?}: {reason}"))?;
                if timeout.is_zero() {
                    return Err("--timeout must be greater than zero".to_owned());
                }
                args.timeout = timeout;
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("doctor: {error}");
            return ExitCode::from(2);
        }
    };
    load_dotenv();
    let config = match DoctorConfig::from_env(args.timeout) {
        Ok(config) => config,
        Err(error) => return exit_on_error(&error),
    };
    match run(&args, &config) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("doctor: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args, config: &DoctorConfig) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let probe = Probe::new(config.timeout)?;
        Ok::<_, anyhow::Error>(checks::run(config, &probe).await)
    })?;
    if args.json {
        println!("{}", render::json(&report));
    } else {
        let color = color_from_env(std::io::stdout().is_terminal());
        print!("{}", render::text(&report, color));
    }
    // The export pipeline's threads may still hold a blocking flush: do not
    // wait for them at exit.
    runtime.shutdown_background();
    Ok(report.exit_code())
}
