//! The bot's probes without a token: alive, never ready, and it says why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use testkit::ServiceBuilder;

#[tokio::test]
async fn without_a_token_ready_is_503_naming_the_variable() {
    let mut bot = ServiceBuilder::new("bot").spawn();
    bot.wait_live().await;
    let client = testkit::http_client();
    let response = client.get(bot.url("/ready")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let ready: Value = response.json().await.unwrap();
    assert_eq!(
        ready["reasons"],
        serde_json::json!(["discord: DISCORD_TOKEN not set"])
    );

    let response = client.get(bot.url("/health")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health["status"], "down");
    assert_eq!(health["service"], "bot");
    assert_eq!(
        health["checks"]["discord"]["message"],
        "DISCORD_TOKEN not set"
    );

    let metrics = bot.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"health_check_up{check="discord"} 0"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"build_info{service="bot",version="#));
}
