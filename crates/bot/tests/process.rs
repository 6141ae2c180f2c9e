//! The bot binary as a real process: starts, answers `/live`, rejects bad
//! configuration with exit code 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use testkit::{ServiceBuilder, assert_config_error};

#[tokio::test]
async fn answers_live_on_an_ephemeral_port() {
    let mut service = ServiceBuilder::new("bot").spawn();
    service.wait_live().await;
    let body: serde_json::Value = testkit::http_client()
        .get(service.url("/live"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("GET /live")
        .json()
        .await
        .expect("JSON body");
    assert_eq!(body["status"], "ok");
}

#[test]
fn unparsable_port_exits_2_naming_the_variable() {
    assert_config_error("bot", "PORT", "abc");
}

#[test]
fn unknown_log_format_exits_2_naming_the_variable() {
    assert_config_error("bot", "LOG_FORMAT", "xml");
}

#[test]
fn malformed_gateway_url_exits_2_naming_the_variable() {
    assert_config_error("bot", "GATEWAY_URL", "http://gateway:notaport");
}

#[tokio::test]
async fn without_a_token_keeps_serving_and_warns_once() {
    let mut service = ServiceBuilder::new("bot").spawn();
    service.wait_live().await;
    let count = || {
        service
            .stdout
            .lines()
            .iter()
            .filter(|line| line.contains("DISCORD_TOKEN not set"))
            .count()
    };
    testkit::poll_until(testkit::STARTUP_DEADLINE, "the token warning", || async {
        (count() > 0).then_some(())
    })
    .await;
    assert_eq!(count(), 1, "stdout:\n{}", service.stdout.text());
}

#[test]
fn shard_variables_are_validated_naming_the_variable() {
    assert_config_error("bot", "DISCORD_SHARD_TOTAL", "zero");
    let (status, stderr) = testkit::run_to_exit(
        "bot",
        &[("DISCORD_SHARDS", "5-6"), ("DISCORD_SHARD_TOTAL", "4")],
    );
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr:\n{stderr}");
    assert!(
        stderr.contains("DISCORD_SHARDS=\"5-6\""),
        "stderr:\n{stderr}"
    );
}

#[test]
fn outside_development_the_development_gateway_key_is_refused() {
    for (environment, key) in [
        ("production", Some("dev-key")),
        ("staging", Some("dev-key")),
        ("production", None),
    ] {
        let mut env = vec![("ENVIRONMENT", environment), ("LOG_HASH_SALT", "test-salt")];
        env.extend(key.map(|key| ("GATEWAY_API_KEY", key)));
        let (status, stderr) = testkit::run_to_exit("bot", &env);
        assert_eq!(status.code(), Some(2), "{env:?}: stderr:\n{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{env:?}: stderr:\n{stderr}");
        assert!(
            stderr.contains("GATEWAY_API_KEY="),
            "{env:?}: stderr:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{env:?}: stderr:\n{stderr}");
    }
}

#[tokio::test]
async fn a_refused_token_is_logged_and_the_process_stays_up() {
    let discord = testkit::discord::refusing_tokens().await;
    let mut service = ServiceBuilder::new("bot")
        .env("DISCORD_TOKEN", "not-a-valid-token")
        .env("DISCORD_API_PROXY", &discord)
        .spawn();
    service.wait_live().await;
    testkit::poll_until(
        testkit::STARTUP_DEADLINE,
        "the refused-token error",
        || async {
            service
                .stdout
                .text()
                .contains("Discord refused DISCORD_TOKEN (401)")
                .then_some(())
        },
    )
    .await;
    let status = testkit::http_client()
        .get(service.url("/live"))
        .send()
        .await
        .expect("GET /live after the refusal")
        .status();
    assert_eq!(status, 200, "stdout:\n{}", service.stdout.text());
    assert!(!service.stderr.text().contains("panicked"));
}
