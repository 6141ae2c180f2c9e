//! The load benchmark of `make bench`: what telemetry costs the service
//! itself, in CPU per request, under `wrk -t2 -c64`.
//!
//! Two paths: the backend's hot read (`GET /api/guilds/{id}` on SQLite)
//! and the same read through the gateway's proxy (to a backend with
//! minimal telemetry). Each is run in seven modes, alternating, one fresh
//! release process per run:
//!
//! - `bare`: the same handlers and store with no telemetry at all
//!   (`backend-bare`, `gateway-bare`: no subscriber, no layers);
//! - `minimal`: `LOG_LEVEL=error`, nothing exported;
//! - `info JSON`: `LOG_LEVEL=info`, JSON lines to a file;
//! - `+Loki`: that, shipped to a Loki receiver;
//! - `+OTLP`: `info JSON` with spans exported over OTLP http/protobuf;
//! - `full`: JSON file + Loki + OTLP (+ metrics, always on), with the
//!   production sampler (one root in ten, see `trace::config`);
//! - `full, every request`: the same with `OTEL_TRACES_SAMPLER=parentbased_always_on`.
//!
//! Every mode runs with `ENVIRONMENT=production`.
//!
//! The service's CPU is its utime+stime from `/proc/<pid>/stat` over the
//! `wrk` run divided by the requests served. The receivers (the testkit's
//! Loki and OTLP peers, which decode every push) run in a separate process
//! (`load-bench receivers`), so their CPU is measured apart and never
//! counted as the service's.
//!
//! Prints a Markdown report (medians over the rounds, ratios against
//! `minimal` and `bare`, the goals) and writes it between the `load-bench`
//! markers of `docs/BENCHMARKS.md`. Speed is reported, never asserted: the
//! machines are shared.
//!
//! `target/release/load-bench [--seconds N] [--rounds N] [--paths backend,gateway]
//! [--modes bare,minimal,...] [--no-write]` after
//! `cargo build --release -p backend -p gateway -p testkit --bins` (what
//! `make bench-load` does).

use std::{
    fmt::Write as _,
    io::{BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use testkit::{Service, ServiceBuilder, http_client, loki::LokiReceiver, otlp::OtlpReceiver};

const THREADS: u32 = 2;
const CONNECTIONS: u32 = 64;
const GUILD_PATH: &str = "/api/guilds/123456789012345678";
const API_KEY: &str = "bench-key";

/// Which request path is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The backend's read, served by the backend under test.
    Backend,
    /// The same read through the gateway under test to a minimal backend.
    Gateway,
}

impl Target {
    const ALL: [Self; 2] = [Self::Backend, Self::Gateway];

    fn name(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::Gateway => "gateway",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bare,
    Minimal,
    InfoJson,
    Loki,
    Otlp,
    Full,
    FullSampled,
}

impl Mode {
    const ALL: [Self; 7] = [
        Self::Bare,
        Self::Minimal,
        Self::InfoJson,
        Self::Loki,
        Self::Otlp,
        Self::Full,
        Self::FullSampled,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::Bare => "bare",
            Self::Minimal => "minimal",
            Self::InfoJson => "info-json",
            Self::Loki => "loki",
            Self::Otlp => "otlp",
            Self::Full => "full",
            Self::FullSampled => "full-sampled",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Bare => "bare (no telemetry)",
            Self::Minimal => "minimal (`LOG_LEVEL=error`)",
            Self::InfoJson => "`info` JSON to a file",
            Self::Loki => "`info` JSON + Loki",
            Self::Otlp => "`info` JSON + OTLP spans (production sampler)",
            Self::Full => "full (JSON + Loki + OTLP)",
            Self::FullSampled => "full, every request's spans exported",
        }
    }

    fn binary(self, path: Target) -> String {
        match self {
            Self::Bare => format!("{}-bare", path.name()),
            _ => path.name().to_owned(),
        }
    }

    /// The environment of this mode (on top of the common one).
    fn env(self, receivers: &Receivers) -> Vec<(&'static str, String)> {
        let level = |level: &str| ("LOG_LEVEL", level.to_owned());
        let loki = ("LOKI_URL", receivers.loki_url.clone());
        let otlp = [
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                receivers.otlp_endpoint.clone(),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ];
        match self {
            Self::Bare | Self::Minimal => vec![level("error")],
            Self::InfoJson => vec![level("info")],
            Self::Loki => vec![level("info"), loki],
            Self::Otlp => [vec![level("info")], otlp.to_vec()].concat(),
            Self::Full => [vec![level("info"), loki], otlp.to_vec()].concat(),
            Self::FullSampled => [
                vec![level("info"), loki],
                otlp.to_vec(),
                vec![("OTEL_TRACES_SAMPLER", "parentbased_always_on".to_owned())],
            ]
            .concat(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The service under test's CPU per request.
    cpu_us: f64,
    /// The receivers process' CPU per request.
    receivers_cpu_us: f64,
    /// The backend behind the gateway (gateway path only), per request.
    upstream_cpu_us: f64,
    idle_rss_mib: f64,
    /// The anonymous part of the idle RSS: the memory the process has of its
    /// own (the rest is the executable's and libraries' pages).
    idle_anon_mib: f64,
    peak_rss_mib: f64,
    startup_ms: f64,
}

struct Options {
    seconds: u64,
    rounds: usize,
    paths: Vec<Target>,
    modes: Vec<Mode>,
    write: bool,
}

fn options(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let mut options = Options {
        seconds: 5,
        rounds: 3,
        paths: Target::ALL.to_vec(),
        modes: Mode::ALL.to_vec(),
        write: true,
    };
    const USAGE: &str =
        "--seconds N, --rounds N, --paths backend,gateway, --modes bare,minimal,..., --no-write";
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => options.seconds = args.next().context("--seconds N")?.parse()?,
            "--rounds" => options.rounds = args.next().context("--rounds N")?.parse()?,
            "--paths" => {
                let list = args.next().context("--paths backend,gateway")?;
                options.paths = pick(&list, &Target::ALL, |p| p.name())?;
            }
            "--modes" => {
                let list = args.next().context("--modes bare,minimal,...")?;
                options.modes = pick(&list, &Mode::ALL, |m| m.key())?;
            }
            "--no-write" => options.write = false,
            other => bail!("unknown argument {other:?} ({USAGE})"),
        }
    }
    ensure!(
        options.rounds > 0 && options.seconds > 0,
        "--seconds and --rounds must be positive"
    );
    // A partial run must not replace the full report.
    if options.paths.len() < Target::ALL.len() || options.modes.len() < Mode::ALL.len() {
        options.write = false;
    }
    Ok(options)
}

fn pick<T: Copy>(list: &str, all: &[T], key: fn(T) -> &'static str) -> anyhow::Result<Vec<T>> {
    list.split(',')
        .map(|name| {
            all.iter()
                .copied()
                .find(|item| key(*item) == name.trim())
                .with_context(|| format!("unknown name {name:?}"))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.peek().map(String::as_str) == Some("receivers") {
        return runtime.block_on(serve_receivers());
    }
    let options = options(args)?;
    runtime.block_on(bench(options))
}

/// `load-bench receivers`: the Loki and OTLP receivers in this process.
/// Prints `<loki url> <otlp endpoint>`, then answers each line on stdin
/// with `<log lines> <spans>` received so far; exits when stdin closes.
async fn serve_receivers() -> anyhow::Result<()> {
    let loki = LokiReceiver::start().await;
    let otlp = OtlpReceiver::start().await;
    println!("{} {}", loki.url(), otlp.endpoint());
    let mut lines = BufReader::new(std::io::stdin()).lines();
    while let Some(Ok(_)) = tokio::task::block_in_place(|| lines.next()) {
        println!("{} {}", loki.entry_count(), otlp.span_count());
    }
    Ok(())
}

/// The receivers' process, seen from the benchmark.
struct Receivers {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    loki_url: String,
    otlp_endpoint: String,
}

impl Receivers {
    fn start() -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("receivers")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().context("receivers' stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("receivers' stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let (loki_url, otlp_endpoint) = line
            .trim()
            .split_once(' ')
            .with_context(|| format!("unexpected receivers' greeting {line:?}"))?;
        Ok(Self {
            loki_url: loki_url.to_owned(),
            otlp_endpoint: otlp_endpoint.to_owned(),
            child,
            stdin,
            stdout,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Log lines and spans received so far.
    fn counts(&mut self) -> anyhow::Result<(u64, u64)> {
        writeln!(self.stdin, "count")?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let (lines, spans) = line.trim().split_once(' ').context("receivers' counts")?;
        Ok((lines.parse()?, spans.parse()?))
    }
}

impl Drop for Receivers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment every service under test shares.
fn common(builder: ServiceBuilder, log: &Path) -> anyhow::Result<ServiceBuilder> {
    Ok(builder
        .env("ENVIRONMENT", "production")
        // Required in production; `wrk` never reads /metrics.
        .env("METRICS_TOKEN", "load-bench")
        .env("LOG_HASH_SALT", "load-bench-salt")
        .env("LOG_FORMAT", "json")
        .env("SHUTDOWN_GRACE_SECONDS", "0")
        .stdout_to_file(std::fs::File::create(log)?))
}

fn backend(binary: &str, work_dir: &Path, name: &str) -> anyhow::Result<ServiceBuilder> {
    let database = work_dir.join(format!("{name}.db"));
    let _ = std::fs::remove_file(&database);
    Ok(common(
        ServiceBuilder::new(binary),
        &work_dir.join(format!("{name}.log")),
    )?
    .env(
        "DATABASE_URL",
        format!("sqlite://{}?mode=rwc", database.display()),
    ))
}

async fn bench(options: Options) -> anyhow::Result<()> {
    ensure!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is not installed: `apt-get install wrk` (make bench-load installs it)"
    );
    let clock_ticks = clock_ticks_per_second();
    let mut receivers = Receivers::start()?;
    let work_dir = std::env::temp_dir().join(format!("load-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)?;

    // The gateway path's upstream: one backend with minimal telemetry.
    let mut upstream = None;
    if options.paths.contains(&Target::Gateway) {
        let mut service = backend("backend", &work_dir, "upstream")?
            .env("LOG_LEVEL", "error")
            .spawn();
        service.wait_for_status("/ready", 200).await;
        put_guild(&service.url(GUILD_PATH), None).await?;
        upstream = Some(service);
    }

    let mut samples = Vec::new();
    for round in 1..=options.rounds {
        for path in &options.paths {
            for mode in &options.modes {
                let run = Run {
                    path: *path,
                    mode: *mode,
                    seconds: options.seconds,
                    clock_ticks,
                    work_dir: &work_dir,
                };
                let sample = run.measure(&receivers, upstream.as_ref()).await?;
                eprintln!(
                    "round {round}/{} {} {}: {sample:?}",
                    options.rounds,
                    path.name(),
                    mode.key()
                );
                samples.push((*path, *mode, sample));
            }
        }
    }
    let (lines, spans) = receivers.counts()?;
    let evidence = format!(
        "Over the run the Loki receiver decoded {lines} log lines and the OTLP receiver {spans} spans."
    );
    let report = report(&samples, &options, &evidence);
    println!("{report}");
    if options.write {
        write_into_benchmarks(&report)?;
    }
    drop(upstream);
    let _ = std::fs::remove_dir_all(&work_dir);
    Ok(())
}

async fn put_guild(url: &str, api_key: Option<&str>) -> anyhow::Result<()> {
    let client = http_client();
    let mut request = client
        .put(url)
        .header("content-type", "application/json")
        .body(r#"{"name":"bench guild","settings":{"locale":"en"}}"#);
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    request.send().await?.error_for_status()?;
    Ok(())
}

struct Run<'a> {
    path: Target,
    mode: Mode,
    seconds: u64,
    clock_ticks: f64,
    work_dir: &'a Path,
}

impl Run<'_> {
    /// One service process in this run's mode: startup, idle memory, `wrk`.
    async fn measure(
        &self,
        receivers: &Receivers,
        upstream: Option<&Service>,
    ) -> anyhow::Result<Sample> {
        let binary = self.mode.binary(self.path);
        let name = format!("{}-{}", self.path.name(), self.mode.key());
        let mut builder = match self.path {
            Target::Backend => backend(&binary, self.work_dir, &name)?,
            Target::Gateway => {
                let upstream = upstream.context("the gateway path needs its backend")?;
                common(
                    ServiceBuilder::new(&binary),
                    &self.work_dir.join(format!("{name}.log")),
                )?
                .env("BACKEND_URL", upstream.url(""))
                .env("GATEWAY_API_KEYS", format!("{API_KEY}:events+api"))
                // The per-key limit would otherwise answer 429 to `wrk`.
                .env("GATEWAY_RATE_LIMIT_PER_SECOND", "100000000")
                .env("GATEWAY_RATE_LIMIT_BURST", "100000000")
            }
        };
        for (key, value) in self.mode.env(receivers) {
            builder = builder.env(key, value);
        }
        let spawned = Instant::now();
        let mut service = builder.spawn();
        service
            .wait_for_status_every("/ready", 200, Duration::from_millis(1))
            .await;
        let startup_ms = spawned.elapsed().as_secs_f64() * 1e3;

        let url = service.url(GUILD_PATH);
        let key = (self.path == Target::Gateway).then_some(API_KEY);
        if self.path == Target::Backend {
            put_guild(&url, None).await?;
        }
        let mut warm_up = http_client().get(&url);
        if let Some(key) = key {
            warm_up = warm_up.bearer_auth(key);
        }
        warm_up.send().await?.error_for_status()?;
        let idle_rss_mib = service.memory_mib("VmRSS");
        let idle_anon_mib = service.memory_mib("RssAnon");

        let pids = [
            Some(service.pid()),
            Some(receivers.pid()),
            upstream
                .filter(|_| self.path == Target::Gateway)
                .map(Service::pid),
        ];
        let before = pids.map(|pid| pid.map_or(Ok(0), cpu_ticks));
        let text = wrk(&url, key, self.seconds)?;
        let after = pids.map(|pid| pid.map_or(Ok(0), cpu_ticks));
        let peak_rss_mib = service.memory_mib("VmHWM");
        let requests = requests_served(&text)?;
        let per_request = |i: usize| -> anyhow::Result<f64> {
            let ticks = after[i].as_ref().map_err(clone_error)?
                - before[i].as_ref().map_err(clone_error)?;
            Ok(ticks as f64 / self.clock_ticks * 1e6 / requests)
        };

        service.signal("TERM");
        let status = service.wait_exit(Duration::from_secs(20));
        ensure!(status.success(), "{binary} exited with {status}");
        let _ = std::fs::remove_file(self.work_dir.join(format!("{name}.log")));
        Ok(Sample {
            requests_per_second: number_after(&text, "Requests/sec:")?,
            p50_ms: latency_ms(&text, "50%")?,
            p99_ms: latency_ms(&text, "99%")?,
            cpu_us: per_request(0)?,
            receivers_cpu_us: per_request(1)?,
            upstream_cpu_us: per_request(2)?,
            idle_rss_mib,
            idle_anon_mib,
            peak_rss_mib,
            startup_ms,
        })
    }
}

fn clone_error(error: &anyhow::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:#}")
}

fn wrk(url: &str, api_key: Option<&str>, seconds: u64) -> anyhow::Result<String> {
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency");
    if let Some(key) = api_key {
        command
            .arg("-H")
            .arg(format!("Authorization: Bearer {key}"));
    }
    let output = command.arg(url).output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(output.status.success(), "wrk failed:\n{text}");
    ensure!(
        !text.contains("Non-2xx"),
        "non-2xx answers under load:\n{text}"
    );
    ensure!(
        !text.contains("Socket errors"),
        "socket errors under load:\n{text}"
    );
    Ok(text)
}

/// utime + stime of `pid` so far, in clock ticks (`/proc/<pid>/stat`
/// fields 14 and 15, counted after the parenthesised command name).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).context("short /proc/<pid>/stat")?.parse()?)
    };
    // Field 3 (state) is the first after the name: utime is 14, stime 15.
    Ok(field(14 - 3)? + field(15 - 3)?)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// `123456 requests in 5.00s, …`
fn requests_served(text: &str) -> anyhow::Result<f64> {
    text.lines()
        .find_map(|line| {
            let (count, _) = line.trim().split_once(" requests in ")?;
            count.trim().parse().ok()
        })
        .with_context(|| format!("no request count in wrk's output:\n{text}"))
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

type Samples = [(Target, Mode, Sample)];

fn median(samples: &Samples, path: Target, mode: Mode, field: fn(&Sample) -> f64) -> f64 {
    let mut values: Vec<f64> = samples
        .iter()
        .filter(|(p, m, _)| *p == path && *m == mode)
        .map(|(_, _, sample)| field(sample))
        .collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn report(samples: &Samples, options: &Options, evidence: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "`wrk -t{THREADS} -c{CONNECTIONS} -d{}s --latency` on `GET /api/guilds/{{id}}` (SQLite), \
         {} alternating rounds of every mode, one fresh release process per run; medians. \
         CPU = the process' utime+stime over the run ÷ requests served; the receivers run in \
         their own process.",
        options.seconds, options.rounds
    );
    for path in &options.paths {
        let path = *path;
        let m = |mode, field| median(samples, path, mode, field);
        let cpu = |mode| m(mode, |s| s.cpu_us);
        let rps = |mode| m(mode, |s| s.requests_per_second);
        let _ = writeln!(
            out,
            "\n**{}**{}\n",
            match path {
                Target::Backend => "Backend read",
                Target::Gateway => "Gateway proxy path",
            },
            match path {
                Target::Backend => "",
                Target::Gateway =>
                    " (the gateway under test; the backend behind it at minimal telemetry)",
            }
        );
        let upstream_header = if path == Target::Gateway {
            " backend behind (µs/req) |"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| mode | requests/s | p50 (ms) | p99 (ms) | service CPU (µs/req) | × minimal | × bare | receivers CPU (µs/req) |{upstream_header} idle RSS (MiB) | of which private (MiB) | peak RSS (MiB) | startup (ms) |"
        );
        let columns = if path == Target::Gateway { 13 } else { 12 };
        let _ = writeln!(out, "| --- |{}", " ---: |".repeat(columns - 1));
        for mode in &options.modes {
            let mode = *mode;
            let upstream = if path == Target::Gateway {
                format!(" {:.1} |", m(mode, |s| s.upstream_cpu_us))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {:.1} |{upstream} {:.1} | {:.1} | {:.1} | {:.1} |",
                mode.label(),
                rps(mode),
                m(mode, |s| s.p50_ms),
                m(mode, |s| s.p99_ms),
                cpu(mode),
                cpu(mode) / cpu(Mode::Minimal),
                cpu(mode) / cpu(Mode::Bare),
                m(mode, |s| s.receivers_cpu_us),
                m(mode, |s| s.idle_rss_mib),
                m(mode, |s| s.idle_anon_mib),
                m(mode, |s| s.peak_rss_mib),
                m(mode, |s| s.startup_ms),
            );
        }
        let full_idle = m(Mode::Full, |s| s.idle_rss_mib);
        let goals: [(&str, f64, String, bool); 4] = [
            (
                "full CPU/request ≤ 1.15 × minimal",
                cpu(Mode::Full) / cpu(Mode::Minimal),
                "×".to_owned(),
                cpu(Mode::Full) <= 1.15 * cpu(Mode::Minimal),
            ),
            (
                "full CPU/request ≤ 1.3 × bare",
                cpu(Mode::Full) / cpu(Mode::Bare),
                "×".to_owned(),
                cpu(Mode::Full) <= 1.3 * cpu(Mode::Bare),
            ),
            (
                "full requests/s ≥ 0.85 × minimal (receivers share the cores)",
                rps(Mode::Full) / rps(Mode::Minimal),
                "×".to_owned(),
                rps(Mode::Full) >= 0.85 * rps(Mode::Minimal),
            ),
            (
                "idle RSS, everything configured ≤ 10 MiB",
                full_idle,
                " MiB".to_owned(),
                full_idle <= 10.0,
            ),
        ];
        let _ = writeln!(out, "\n| goal ({}) | measured | met |", path.name());
        let _ = writeln!(out, "| --- | ---: | :---: |");
        for (goal, value, unit, met) in goals {
            let _ = writeln!(
                out,
                "| {goal} | {value:.2}{unit} | {} |",
                if met { "yes" } else { "no" }
            );
        }
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

/// Cores, CPU model, kernel, load and date of this run.
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
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "Measured {} on {cores} cores ({cpu}), Linux {}, load average {load} at the end, with `make bench-load`.",
        run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        run("uname", &["-r"])
    )
}
