//! `make dev-all` as a user meets it: in a real terminal (a pseudo-terminal
//! made by util-linux `script`), every service line is on screen while the
//! services run, a request's `completed in` line shows up right away, and a
//! Ctrl-C typed into the terminal stops all three gracefully, leaving no
//! process behind. A second test (plain pipes, no colour) covers a service
//! that exits on its own while the others keep running.
#![allow(clippy::expect_used)] // test code: a failed expectation is a failed test

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use testkit::{Output, binary, free_port, http_client, poll_until, send_signal, wait_exit};

/// Generous for a loaded machine: three debug binaries start in well under
/// a second when idle.
const STARTUP: Duration = Duration::from_secs(30);
/// A line written by a service must be on screen this soon. A runner that
/// buffers (mawk reads its input in 4 KiB blocks) shows nothing for minutes.
const LIVE: Duration = Duration::from_secs(3);
const SHUTDOWN: Duration = Duration::from_secs(30);

const SERVICES: [&str; 3] = ["backend", "gateway", "bot"];

/// What a terminal shows, without colours and carriage returns.
fn screen(output: &Output) -> Vec<String> {
    output.lines().iter().map(|line| strip_ansi(line)).collect()
}

fn strip_ansi(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte (a letter).
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            plain.push(c);
        }
    }
    plain
}

/// The ports, database and binaries of one run of the runner.
struct DevAll {
    child: Child,
    output: Output,
    ports: [u16; 3],
    data: PathBuf,
}

impl DevAll {
    /// `scripts/dev-all.sh` (what `make dev-all` runs), the build skipped:
    /// the test binaries are built already. With `pty`, inside a terminal.
    fn start(pty: bool, extra_env: &[(&str, &str)]) -> Self {
        let bin_dir = binary("backend").parent().expect("bin dir").to_path_buf();
        let target_dir = bin_dir.parent().expect("target dir").to_path_buf();
        let profile = bin_dir.file_name().expect("profile").to_owned();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let data = std::env::temp_dir().join(format!("dev-all-{}-{}", std::process::id(), pty));
        std::fs::create_dir_all(&data).expect("temp dir");
        let ports = [free_port(), free_port(), free_port()];
        let script = repo.join("scripts/dev-all.sh");

        let mut command = if pty {
            let mut command = Command::new("script");
            // -q quiet, -f flush each write, -e the command's exit code.
            command
                .args(["-qfec", &format!("exec bash {}", script.display())])
                .arg("/dev/null");
            command
        } else {
            let mut command = Command::new("bash");
            command.arg(&script);
            command
        };
        command
            .env("DEV_ALL_NO_BUILD", "1")
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("DEV_PROFILE", &profile)
            .env("HOST", "127.0.0.1")
            .env("BACKEND_PORT", ports[0].to_string())
            .env("GATEWAY_PORT", ports[1].to_string())
            .env("BOT_HTTP_PORT", ports[2].to_string())
            .env("BACKEND_URL", format!("http://127.0.0.1:{}", ports[0]))
            .env("GATEWAY_URL", format!("http://127.0.0.1:{}", ports[1]))
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/dev.db?mode=rwc", data.display()),
            )
            .env("TERM", "xterm")
            .env_remove("PORT")
            .env_remove("DISCORD_TOKEN")
            .env_remove("FORCE_COLOR")
            .env_remove("LOKI_URL")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            // The terminal's keyboard: Ctrl-C is typed into it.
            .stdin(if pty { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if pty {
            command.env_remove("NO_COLOR");
        } else {
            command.env("NO_COLOR", "1");
        }
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn dev-all");
        let output = Output::default();
        drop(output.clone().capture(child.stdout.take().expect("stdout")));
        drop(output.clone().capture(child.stderr.take().expect("stderr")));
        Self {
            child,
            output,
            ports,
            data,
        }
    }

    fn screen(&self) -> Vec<String> {
        screen(&self.output)
    }

    /// Polls the screen until a line satisfies `matches`, or fails at `deadline`
    /// with what the screen shows.
    fn wait_for_line(&mut self, what: &str, deadline: Duration, matches: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            if self.screen().iter().any(|line| matches(line)) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dev-all exited ({status}) before showing {what}; screen:\n{}",
                    self.screen().join("\n")
                );
            }
            assert!(
                start.elapsed() < deadline,
                "{what} not on screen within {deadline:?}; screen so far:\n{}",
                self.screen().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pids of the three services (descendants of the runner, by name).
    fn service_pids(&self) -> Vec<(String, u32)> {
        descendants(self.child.id())
            .into_iter()
            .filter_map(|pid| {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                let comm = comm.trim();
                SERVICES.contains(&comm).then(|| (comm.to_owned(), pid))
            })
            .collect()
    }
}

impl Drop for DevAll {
    fn drop(&mut self) {
        // A failed assertion must not leave the services running.
        for pid in descendants(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn children_of(pid: u32) -> Vec<u32> {
    let output = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(next) = queue.pop() {
        for child in children_of(next) {
            found.push(child);
            queue.push(child);
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state is 'Z'.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

fn startup_line(service: &str) -> String {
    let title = match service {
        "backend" => "Backend running on",
        "gateway" => "Gateway running on",
        _ => "Bot HTTP server running on",
    };
    format!("[{}] info [Bootstrap] {title}", service.to_uppercase())
}

#[tokio::test]
async fn in_a_terminal_lines_are_live_and_ctrl_c_stops_everything() {
    if !testkit::tools_available(&["script"], "bsdutils") {
        return;
    }
    let mut dev = DevAll::start(true, &[]);

    // 1. Each startup line is on screen while the services run.
    for service in SERVICES {
        let expected = startup_line(service);
        dev.wait_for_line(&expected, STARTUP, |line| line.contains(&expected));
    }
    let pids = dev.service_pids();
    assert_eq!(
        pids.len(),
        3,
        "the three services run under the runner, got {pids:?}; screen:\n{}",
        dev.screen().join("\n")
    );
    assert!(
        !dev.screen().iter().any(|line| line.contains("shutdown")),
        "the startup lines must show while the services run, not at shutdown:\n{}",
        dev.screen().join("\n")
    );
    let raw = dev.output.text();
    assert!(
        raw.contains("\x1b[44;97m[BACKEND]"),
        "a terminal gets the coloured badges:\n{raw}"
    );

    // 2. A request made now shows its `completed in` line right away.
    let request_id = format!("devall{}{}", std::process::id(), free_port());
    let url = format!("http://127.0.0.1:{}/live", dev.ports[0]);
    let client = http_client();
    poll_until(STARTUP, &url, || {
        let (client, url, id) = (client.clone(), url.clone(), request_id.clone());
        async move {
            let response = client
                .get(&url)
                .header("x-request-id", id)
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())
        }
    })
    .await;
    let needle = format!("request_id={request_id}");
    dev.wait_for_line("the request's `completed in` line", LIVE, |line| {
        line.contains("[BACKEND]") && line.contains("completed in") && line.contains(&needle)
    });

    // 3. Ctrl-C in the terminal: every service shuts down gracefully (one
    // signal each), the runner exits, nothing is left running.
    let stdin = dev.child.stdin.as_mut().expect("terminal input");
    stdin.write_all(b"\x03").expect("type Ctrl-C");
    stdin.flush().expect("flush Ctrl-C");
    let status = wait_exit(&mut dev.child, SHUTDOWN);
    assert!(
        !status.success(),
        "an interrupted dev-all reports it: {status}"
    );
    for service in SERVICES {
        let badge = format!("[{}]", service.to_uppercase());
        dev.wait_for_line(&format!("{badge} shutdown complete"), LIVE, |line| {
            line.contains(&badge) && line.contains("shutdown complete")
        });
    }
    let survivors: Vec<_> = pids.into_iter().filter(|(_, pid)| alive(*pid)).collect();
    assert!(survivors.is_empty(), "processes left behind: {survivors:?}");
}

#[tokio::test]
async fn a_service_that_exits_is_reported_and_the_others_keep_running() {
    // The bot refuses an unparsable port at startup (exit 2).
    let mut dev = DevAll::start(false, &[("BOT_HTTP_PORT", "not-a-port")]);
    dev.wait_for_line("the bot's exit", STARTUP, |line| {
        line.contains("bot exited with code 2")
    });
    for service in ["backend", "gateway"] {
        let expected = startup_line(service);
        dev.wait_for_line(&expected, STARTUP, |line| line.contains(&expected));
    }
    let client = http_client();
    for port in &dev.ports[..2] {
        let url = format!("http://127.0.0.1:{port}/live");
        let response = client.get(&url).send().await.expect("still running");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
    }
    let raw = dev.output.text();
    assert!(!raw.contains('\x1b'), "NO_COLOR: no escape codes:\n{raw}");
    assert!(
        dev.screen()
            .iter()
            .any(|line| line.starts_with("[BOT] ") && line.contains("BOT_HTTP_PORT")),
        "the bot's own error line carries its badge:\n{raw}"
    );

    let pids = dev.service_pids();
    send_signal(dev.child.id(), "TERM");
    let status = wait_exit(&mut dev.child, SHUTDOWN);
    assert!(
        !status.success(),
        "a terminated dev-all reports it: {status}"
    );
    for service in ["backend", "gateway"] {
        let badge = format!("[{}]", service.to_uppercase());
        dev.wait_for_line(&format!("{badge} shutdown complete"), LIVE, |line| {
            line.contains(&badge) && line.contains("shutdown complete")
        });
    }
    let survivors: Vec<_> = pids.into_iter().filter(|(_, pid)| alive(*pid)).collect();
    assert!(survivors.is_empty(), "processes left behind: {survivors:?}");
}
