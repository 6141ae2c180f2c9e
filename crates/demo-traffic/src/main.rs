//! `demo-traffic`: see `--help`.

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
    time::Duration,
};

use demo_traffic::{Args, ArgsError, args::USAGE, run::run};

fn main() -> ExitCode {
    // Same `.env` as the services (GATEWAY_URL, GATEWAY_API_KEY, DEMO_*);
    // a missing file is the normal case.
    let _ = dotenvy::dotenv();
    let args = match Args::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("demo-traffic: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("demo-traffic: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "demo-traffic: {:.0} req/s for {:?} over {} guilds against {}",
        args.rate, args.duration, args.guilds, args.gateway_url
    );
    let total = args.duration;
    let interactive = std::io::stderr().is_terminal();
    let mut seconds = 0u64;
    let outcome = runtime.block_on(run(&args, move |summary| {
        // A terminal gets one line rewritten in place; a log gets a line
        // every 5 s.
        seconds += 1;
        if interactive {
            eprint!("\r\x1b[2K{}", summary.progress_line(total));
            let _ = std::io::stderr().flush();
        } else if seconds.is_multiple_of(5) {
            eprintln!("{}", summary.progress_line(total));
        }
    }));
    match outcome {
        Ok(summary) => {
            if interactive {
                eprintln!();
            }
            println!("{summary}");
            if summary.requests > 0 && summary.errors() == summary.requests {
                eprintln!("demo-traffic: no request got an answer: is the gateway running?");
                return ExitCode::FAILURE;
            }
            runtime.shutdown_timeout(Duration::from_secs(1));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("demo-traffic: {error}");
            ExitCode::FAILURE
        }
    }
}
