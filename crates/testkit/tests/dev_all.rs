//! `make dev-all` smoke test: the script starts all three services, they
//! answer `/live`, and SIGINT leaves no process behind.
#![allow(clippy::expect_used)] // test code: a failed expectation is a failed test

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use testkit::{Output, binary, free_port, http_client, poll_until, send_signal, wait_exit};

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

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state is 'Z'.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

#[tokio::test]
async fn dev_all_runs_three_services_and_sigint_stops_them_all() {
    let bin_dir = binary("backend").parent().expect("bin dir").to_path_buf();
    let target_dir = bin_dir.parent().expect("target dir");
    let profile = bin_dir
        .file_name()
        .expect("profile")
        .to_string_lossy()
        .to_string();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = std::env::temp_dir().join(format!("dev-all-{}", std::process::id()));
    std::fs::create_dir_all(&data).expect("temp dir");
    let (backend, gateway, bot) = (free_port(), free_port(), free_port());

    let mut script = Command::new("bash")
        .arg(repo.join("scripts/dev-all.sh"))
        .env("DEV_ALL_NO_BUILD", "1")
        .env("CARGO_TARGET_DIR", target_dir)
        .env("DEV_PROFILE", &profile)
        .env("HOST", "127.0.0.1")
        .env("NO_COLOR", "1")
        .env("BACKEND_PORT", backend.to_string())
        .env("GATEWAY_PORT", gateway.to_string())
        .env("BOT_HTTP_PORT", bot.to_string())
        .env("BACKEND_URL", format!("http://127.0.0.1:{backend}"))
        .env("GATEWAY_URL", format!("http://127.0.0.1:{gateway}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/dev.db?mode=rwc", data.display()),
        )
        .env_remove("PORT")
        .env_remove("DISCORD_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dev-all.sh");
    let output = Output::default();
    let readers = [
        output
            .clone()
            .capture(script.stdout.take().expect("stdout")),
        output
            .clone()
            .capture(script.stderr.take().expect("stderr")),
    ];

    let client = http_client();
    for port in [backend, gateway, bot] {
        let url = format!("http://127.0.0.1:{port}/live");
        poll_until(Duration::from_secs(30), &url, || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let response = client.get(&url).send().await.ok()?;
                response.status().is_success().then_some(())
            }
        })
        .await;
    }

    let children = children_of(script.id());
    let mut descendants = children.clone();
    for child in &children {
        descendants.extend(children_of(*child));
    }
    assert!(
        descendants.len() >= 3,
        "expected the services as children, got {descendants:?}"
    );

    send_signal(script.id(), "INT");
    let status = wait_exit(&mut script, Duration::from_secs(20));
    assert!(
        !status.success(),
        "an interrupted dev-all reports it: {status}"
    );
    let survivors: Vec<u32> = descendants.into_iter().filter(|pid| alive(*pid)).collect();
    assert!(survivors.is_empty(), "processes left behind: {survivors:?}");
    for reader in readers {
        reader.join().expect("output reader");
    }
    // Each service shut down gracefully (one signal, not a kill), and every
    // line is marked with its service's badge.
    let text = output.text();
    for badge in ["[BACKEND]", "[GATEWAY]", "[BOT"] {
        let graceful = output
            .lines()
            .iter()
            .any(|line| line.contains(badge) && line.contains("shutdown complete"));
        assert!(graceful, "{badge} did not shut down gracefully:\n{text}");
    }
    let _ = std::fs::remove_dir_all(data);
}
