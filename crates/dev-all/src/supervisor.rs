//! Starting the services, pumping their output line by line, forwarding
//! signals, reporting exits.

use std::{
    os::unix::process::ExitStatusExt as _,
    path::Path,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncRead, BufReader},
    process::Command,
    signal::unix::{SignalKind, signal},
    sync::mpsc,
    task::JoinHandle,
    time::{Instant, sleep_until},
};

use crate::{
    lines::Marker,
    screen::{Screen, Stream},
};

/// After the SIGTERM, how long the services get to shut down gracefully
/// (drain, flush logs and spans) before they are killed.
const KILL_AFTER: Duration = Duration::from_secs(20);
/// After the last exit, how long output still in the pipes may take.
const DRAIN: Duration = Duration::from_secs(2);

/// How the run ended: the process exit code of the runner.
pub fn exit_code(interrupted_by: Option<i32>, failures: usize) -> u8 {
    match interrupted_by {
        // The shell convention: 128 + the signal number.
        Some(signal) => u8::try_from(128 + signal).unwrap_or(1),
        None if failures > 0 => 1,
        None => 0,
    }
}

struct Running {
    name: String,
    pid: Option<Pid>,
}

/// Runs `services` (binaries in `bin_dir`) until all have exited; returns
/// the runner's exit code.
pub async fn run(services: &[String], bin_dir: &Path, color: bool, screen: Screen) -> u8 {
    // Installed before anything starts, so an early Ctrl-C is not lost.
    let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        screen.say("cannot install the signal handlers").await;
        return 1;
    };

    let (exits, mut exited) = mpsc::unbounded_channel::<(usize, std::io::Result<ExitStatus>)>();
    let mut running = Vec::new();
    let mut pumps = Vec::new();
    let mut failures = 0;
    for (index, name) in services.iter().enumerate() {
        match spawn(name, bin_dir, color, &screen, &mut pumps) {
            Ok((pid, child)) => {
                let exits = exits.clone();
                tokio::spawn(async move {
                    let mut child = child;
                    let _ = exits.send((index, child.wait().await));
                });
                running.push(Running {
                    name: name.clone(),
                    pid: Some(pid),
                });
            }
            Err(error) => {
                failures += 1;
                screen.say(&error).await;
                running.push(Running {
                    name: name.clone(),
                    pid: None,
                });
            }
        }
    }
    let groups: Vec<Pid> = running.iter().filter_map(|service| service.pid).collect();

    let mut interrupted_by = None;
    let mut kill_at = None;
    while running.iter().any(|service| service.pid.is_some()) {
        let signal = tokio::select! {
            Some((index, status)) = exited.recv() => {
                running[index].pid = None;
                let left = running.iter().filter(|service| service.pid.is_some()).count();
                let (report, failed) = describe(status);
                if failed && interrupted_by.is_none() {
                    failures += 1;
                }
                screen.say(&format!("{} {report} ({left} still running)", running[index].name)).await;
                continue;
            }
            _ = interrupt.recv() => Signal::INT,
            _ = terminate.recv() => Signal::TERM,
            _ = hangup.recv() => Signal::HUP,
            () = sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() => {
                kill_at = None;
                screen.say(&format!("still running after {KILL_AFTER:?}: killing {}", names(&running))).await;
                kill_groups(&running);
                continue;
            }
        };
        if interrupted_by.is_none() {
            interrupted_by = Some(signal.as_raw());
            kill_at = Some(Instant::now() + KILL_AFTER);
            screen
                .say(&format!("stopping {} (again to kill)", names(&running)))
                .await;
            // Exactly one SIGTERM each: a second one would cut the
            // service's graceful shutdown short. The services have their
            // own process group, so a terminal's Ctrl-C reached only us.
            for pid in running.iter().filter_map(|service| service.pid) {
                let _ = kill_process(pid, Signal::TERM);
            }
        } else {
            screen.say(&format!("killing {}", names(&running))).await;
            kill_groups(&running);
        }
    }

    // Whatever a service left in its group (it should leave nothing) goes
    // with it; an empty group answers ESRCH, which is the expected case.
    for group in groups {
        let _ = kill_process_group(group, Signal::KILL);
    }
    let deadline = Instant::now() + DRAIN;
    for pump in pumps {
        let _ = tokio::time::timeout_at(deadline, pump).await;
    }
    exit_code(interrupted_by, failures)
}

/// Starts one service in its own process group, its output pumped to `screen`.
fn spawn(
    name: &str,
    bin_dir: &Path,
    color: bool,
    screen: &Screen,
    pumps: &mut Vec<JoinHandle<()>>,
) -> Result<(Pid, tokio::process::Child), String> {
    let path = bin_dir.join(name);
    let mut command = Command::new(&path);
    if color {
        // The services colour their lines only on a terminal; they write
        // into a pipe here, so the runner's decision is passed on.
        command.env("FORCE_COLOR", "1");
    }
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start {name} ({}): {error}", path.display()))?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw)
        .ok_or_else(|| format!("{name} exited before it could be watched"))?;
    let marker = Marker::new(name, color);
    if let Some(stdout) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(
            stdout,
            Stream::Out,
            marker.clone(),
            screen.clone(),
        )));
    }
    if let Some(stderr) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(
            stderr,
            Stream::Err,
            marker,
            screen.clone(),
        )));
    }
    Ok((pid, child))
}

/// Forwards every line of `from` as soon as it is complete.
async fn pump(from: impl AsyncRead + Unpin, stream: Stream, marker: Marker, screen: Screen) {
    let mut reader = BufReader::new(from);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => screen.show(stream, marker.mark(&line)).await,
        }
    }
}

/// "exited with code 2" / "was killed by signal 9", and whether it failed.
fn describe(status: std::io::Result<ExitStatus>) -> (String, bool) {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => (format!("exited with code {code}"), code != 0),
            (None, Some(signal)) => (format!("was killed by signal {signal}"), true),
            (None, None) => (format!("exited ({status})"), true),
        },
        Err(error) => (format!("could not be waited for: {error}"), true),
    }
}

fn names(running: &[Running]) -> String {
    let names: Vec<&str> = running
        .iter()
        .filter(|service| service.pid.is_some())
        .map(|service| service.name.as_str())
        .collect();
    names.join(", ")
}

fn kill_groups(running: &[Running]) {
    for pid in running.iter().filter_map(|service| service.pid) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code(Some(2), 0), 130, "Ctrl-C");
        assert_eq!(
            exit_code(Some(15), 3),
            143,
            "SIGTERM, whatever exited before"
        );
        assert_eq!(exit_code(None, 0), 0);
        assert_eq!(exit_code(None, 1), 1);
    }

    #[test]
    fn exits_are_described_with_their_code_or_signal() {
        let code = ExitStatus::from_raw(2 << 8);
        assert_eq!(describe(Ok(code)), ("exited with code 2".to_owned(), true));
        let clean = ExitStatus::from_raw(0);
        assert_eq!(
            describe(Ok(clean)),
            ("exited with code 0".to_owned(), false)
        );
        let killed = ExitStatus::from_raw(9);
        assert_eq!(
            describe(Ok(killed)),
            ("was killed by signal 9".to_owned(), true)
        );
    }
}
