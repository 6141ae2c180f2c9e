//! The load benchmark of `make bench`: the backend's hot read endpoint
//! (`GET /api/guilds/{id}`) under `wrk -t2 -c64`, in one run, alternating
//! (a) full telemetry (JSON logs to a file, Loki shipping to a local
//! receiver, metrics, spans exported over OTLP to a local receiver) and
//! (b) the same release binary with telemetry at its minimum
//! (`LOG_LEVEL=error`, no Loki, no OTLP).
//!
//! Prints a Markdown table (medians over the rounds, the ratio (a)/(b), the
//! goals) and writes it between the `load-bench` markers of
//! `docs/BENCHMARKS.md`. Speed is reported, never asserted: the machines
//! are shared.
//!
//! `cargo run --release -p testkit --bin load-bench -- [--seconds N] [--rounds N] [--no-write]`
//! after `cargo build --release -p backend` (what `make bench-load` does).

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use testkit::{ServiceBuilder, http_client, loki::LokiReceiver, otlp::OtlpReceiver};

const THREADS: u32 = 2;
const CONNECTIONS: u32 = 64;
const GUILD_PATH: &str = "/api/guilds/123456789012345678";
/// The Go setup's best figure on this kind of machine (the top of its
/// 40 000–55 000 range: the conservative comparison).
const GO_REQUESTS_PER_SECOND: f64 = 55_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Minimal,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    idle_rss_mib: f64,
    peak_rss_mib: f64,
    startup_ms: f64,
}

struct Options {
    seconds: u64,
    rounds: usize,
    write: bool,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        seconds: 10,
        rounds: 3,
        write: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => options.seconds = args.next().context("--seconds N")?.parse()?,
            "--rounds" => options.rounds = args.next().context("--rounds N")?.parse()?,
            "--no-write" => options.write = false,
            other => bail!("unknown argument {other:?} (--seconds N, --rounds N, --no-write)"),
        }
    }
    ensure!(
        options.rounds > 0 && options.seconds > 0,
        "--seconds and --rounds must be positive"
    );
    Ok(options)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    ensure!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is not installed: `apt-get install wrk` (make bench installs it)"
    );
    let loki = LokiReceiver::start().await;
    let otlp = OtlpReceiver::start().await;
    let work_dir = std::env::temp_dir().join(format!("load-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)?;

    let mut samples = Vec::new();
    for round in 1..=options.rounds {
        for mode in [Mode::Full, Mode::Minimal] {
            let sample = run(mode, options.seconds, &loki, &otlp, &work_dir).await?;
            eprintln!("round {round}/{} {mode:?}: {sample:?}", options.rounds);
            samples.push((mode, sample));
        }
    }
    let evidence = format!(
        "During (a) the Loki receiver got {} log lines and the OTLP receiver {} spans.",
        loki.entry_count(),
        otlp.spans().len()
    );
    let report = report(&samples, &options, &evidence);
    println!("{report}");
    if options.write {
        write_into_benchmarks(&report)?;
    }
    let _ = std::fs::remove_dir_all(&work_dir);
    Ok(())
}

/// One backend process in `mode`: startup, idle memory, then `wrk`.
async fn run(
    mode: Mode,
    seconds: u64,
    loki: &LokiReceiver,
    otlp: &OtlpReceiver,
    work_dir: &Path,
) -> anyhow::Result<Sample> {
    let database = work_dir.join(format!("{mode:?}.db"));
    let _ = std::fs::remove_file(&database);
    let log_file = std::fs::File::create(work_dir.join(format!("{mode:?}.log")))?;
    let builder = ServiceBuilder::new("backend")
        .env("ENVIRONMENT", "production")
        .env("LOG_FORMAT", "json")
        .env("SHUTDOWN_GRACE_SECONDS", "0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", database.display()),
        )
        .stdout_to_file(log_file);
    let builder = match mode {
        Mode::Full => builder
            .env("LOG_LEVEL", "info")
            .env("LOKI_URL", loki.url())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint())
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        Mode::Minimal => builder.env("LOG_LEVEL", "error"),
    };
    let spawned = Instant::now();
    let mut backend = builder.spawn();
    backend
        .wait_for_status_every("/ready", 200, Duration::from_millis(1))
        .await;
    let startup_ms = spawned.elapsed().as_secs_f64() * 1e3;

    let url = backend.url(GUILD_PATH);
    let client = http_client();
    client
        .put(&url)
        .header("content-type", "application/json")
        .body(r#"{"name":"bench guild","settings":{"locale":"en"}}"#)
        .send()
        .await?
        .error_for_status()?;
    client.get(&url).send().await?.error_for_status()?;
    let idle_rss_mib = backend.memory_mib("VmRSS");

    let wrk = Command::new("wrk")
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg(&url)
        .output()?;
    let text = String::from_utf8_lossy(&wrk.stdout).into_owned();
    ensure!(wrk.status.success(), "wrk failed:\n{text}");
    ensure!(
        !text.contains("Non-2xx"),
        "non-2xx answers under load:\n{text}"
    );
    ensure!(
        !text.contains("Socket errors"),
        "socket errors under load:\n{text}"
    );
    let peak_rss_mib = backend.memory_mib("VmHWM");

    backend.signal("TERM");
    let status = backend.wait_exit(Duration::from_secs(20));
    ensure!(status.success(), "backend exited with {status}");
    Ok(Sample {
        requests_per_second: number_after(&text, "Requests/sec:")?,
        p50_ms: latency_ms(&text, "50%")?,
        p99_ms: latency_ms(&text, "99%")?,
        idle_rss_mib,
        peak_rss_mib,
        startup_ms,
    })
}

fn number_after(text: &str, key: &str) -> anyhow::Result<f64> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(key))
        .and_then(|rest| rest.trim().parse().ok())
        .with_context(|| format!("no {key:?} in wrk's output:\n{text}"))
}

/// A line of wrk's latency distribution (`99%    4.34ms`), in milliseconds.
fn latency_ms(text: &str, percentile: &str) -> anyhow::Result<f64> {
    let value = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(percentile))
        .map(str::trim)
        .with_context(|| format!("no {percentile} latency in wrk's output:\n{text}"))?;
    let (number, factor) = if let Some(v) = value.strip_suffix("us") {
        (v, 1e-3)
    } else if let Some(v) = value.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = value.strip_suffix('s') {
        (v, 1e3)
    } else {
        bail!("unexpected latency {value:?}")
    };
    Ok(number.parse::<f64>()? * factor)
}

fn median(samples: &[(Mode, Sample)], mode: Mode, field: fn(&Sample) -> f64) -> f64 {
    let mut values: Vec<f64> = samples
        .iter()
        .filter(|(m, _)| *m == mode)
        .map(|(_, sample)| field(sample))
        .collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn report(samples: &[(Mode, Sample)], options: &Options, evidence: &str) -> String {
    type Metric = (&'static str, fn(&Sample) -> f64, usize);
    let metrics: [Metric; 6] = [
        ("requests/s", |s| s.requests_per_second, 0),
        ("p50 latency (ms)", |s| s.p50_ms, 2),
        ("p99 latency (ms)", |s| s.p99_ms, 2),
        ("idle RSS (MiB)", |s| s.idle_rss_mib, 1),
        ("peak RSS under load (MiB)", |s| s.peak_rss_mib, 1),
        ("startup to first 200 on /ready (ms)", |s| s.startup_ms, 1),
    ];
    let full = |field| median(samples, Mode::Full, field);
    let minimal = |field| median(samples, Mode::Minimal, field);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "`wrk -t{THREADS} -c{CONNECTIONS} -d{}s --latency` on `GET /api/guilds/{{id}}` (SQLite), \
         {} alternating rounds per mode, one fresh release process per round; medians.\n",
        options.seconds, options.rounds
    );
    let _ = writeln!(
        out,
        "| metric | (a) full telemetry | (b) minimal telemetry | (a)/(b) |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    for (name, field, decimals) in metrics {
        let (a, b) = (full(field), minimal(field));
        let _ = writeln!(
            out,
            "| {name} | {a:.decimals$} | {b:.decimals$} | {:.3} |",
            a / b
        );
    }
    let throughput = full(|s| s.requests_per_second);
    let goals: [(&str, String, bool); 5] = [
        (
            "(a)/(b) throughput ≥ 0.95",
            format!("{:.3}", throughput / minimal(|s| s.requests_per_second)),
            throughput / minimal(|s| s.requests_per_second) >= 0.95,
        ),
        (
            "(a) ≥ 1.25 × Go (55 000 req/s, the top of its range)",
            format!("{:.2} × Go", throughput / GO_REQUESTS_PER_SECOND),
            throughput >= 1.25 * GO_REQUESTS_PER_SECOND,
        ),
        (
            "idle RSS ≤ 10 MiB",
            format!("{:.1} MiB", full(|s| s.idle_rss_mib)),
            full(|s| s.idle_rss_mib) <= 10.0,
        ),
        (
            "startup to ready ≤ 20 ms",
            format!("{:.1} ms", full(|s| s.startup_ms)),
            full(|s| s.startup_ms) <= 20.0,
        ),
        (
            "p99 under load ≤ 8 ms",
            format!("{:.2} ms", full(|s| s.p99_ms)),
            full(|s| s.p99_ms) <= 8.0,
        ),
    ];
    let _ = writeln!(out, "\n| goal, for (a) | measured | met |");
    let _ = writeln!(out, "| --- | ---: | :---: |");
    for (goal, measured, met) in goals {
        let _ = writeln!(
            out,
            "| {goal} | {measured} | {} |",
            if met { "yes" } else { "no" }
        );
    }
    let _ = writeln!(out, "\n{evidence}");
    out
}

/// Replaces the text between the `load-bench` markers of docs/BENCHMARKS.md.
fn write_into_benchmarks(report: &str) -> anyhow::Result<()> {
    const BEGIN: &str = "<!-- load-bench:begin -->";
    const END: &str = "<!-- load-bench:end -->";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/BENCHMARKS.md");
    let current = std::fs::read_to_string(&path)?;
    let (Some(begin), Some(end)) = (current.find(BEGIN), current.find(END)) else {
        bail!("{} has no {BEGIN} … {END} markers", path.display());
    };
    let section = format!("{BEGIN}\n{}\n\n{report}{END}", machine());
    let updated = format!(
        "{}{section}{}",
        &current[..begin],
        &current[end + END.len()..]
    );
    std::fs::write(&path, updated)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Cores, CPU model, kernel and date of this run.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                Some(
                    line.strip_prefix("model name")?
                        .trim_start_matches([' ', '\t', ':'])
                        .to_owned(),
                )
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let run = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "Measured {} on {cores} cores ({cpu}), Linux {}, with `make bench-load`.",
        run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        run("uname", &["-r"])
    )
}
