//! The bot binary as a real process: starts, answers `/live`, rejects bad
//! configuration with exit code 2.

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
