//! Personal data through the real binary: an erasure's log line and metric,
//! and the retention settings' errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use testkit::{ServiceBuilder, assert_config_error};

const RAW_ID: &str = "912345678912345678";

/// After the erasure request, no line of the backend's output holds the
/// raw id (not the request's span fields, not the audit line): the line
/// names the pseudonym, and the erasure is counted.
#[tokio::test]
async fn an_erasure_logs_the_pseudonym_never_the_raw_id_and_is_counted() {
    let data = std::env::temp_dir().join(format!("backend-erasure-{}", std::process::id()));
    let mut backend = ServiceBuilder::new("backend")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/backend.db", data.display()),
        )
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "debug")
        .env("LOG_HASH_SALT", "erasure-test-salt")
        .spawn();
    backend.wait_live().await;
    let client = testkit::http_client();
    let action = json!({"action": "warn", "moderator_id": "7", "target_id": RAW_ID, "reason": "r"});
    let response = client
        .post(backend.url("/api/guilds/1/moderation"))
        .json(&action)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // Lines up to the moderation request's access line may hold the id
    // (its audit line does); the console is written asynchronously.
    let before = wait_for_line(&backend, 0, "the moderation access line", |line| {
        line.contains(r#""route":"/api/guilds/{id}/moderation""#)
    })
    .await
        + 1;

    let report: Value = client
        .post(backend.url("/api/privacy/erasures"))
        .json(&json!({ "user_id": RAW_ID }))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap()
        .json()
        .await
        .unwrap();
    let pseudonym = report["pseudonym"].as_str().unwrap().to_owned();
    assert_eq!(report["moderation_actions_as_target"], 1, "{report}");

    let audit = wait_for_line(&backend, before, "the erasure's log line", |line| {
        line.contains("personal data erased")
    })
    .await;
    let record: Value = serde_json::from_str(&backend.stdout.lines()[audit]).unwrap();
    assert_eq!(record["pseudonym"], pseudonym, "{record}");
    assert_eq!(record["moderation_actions_as_target"], 1, "{record}");
    // The request's last line (its access line) before checking them all.
    wait_for_line(&backend, before, "the erasure's access line", |line| {
        line.contains(r#""route":"/api/privacy/erasures""#)
    })
    .await;
    let after = backend.stdout.lines()[before..].join("\n");
    assert!(!after.contains(RAW_ID), "the raw id was logged:\n{after}");

    let metrics = backend.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("personal_data_erasures_total") && line.ends_with(" 1")),
        "{metrics}"
    );
    drop(backend);
    let _ = std::fs::remove_dir_all(&data);
}

/// Index of the first line of `backend`'s stdout from `from` on that
/// satisfies `matches`, waiting for it.
async fn wait_for_line(
    backend: &testkit::Service,
    from: usize,
    what: &str,
    matches: impl Fn(&str) -> bool,
) -> usize {
    testkit::poll_until(Duration::from_secs(20), what, || {
        let found = backend
            .stdout
            .lines()
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, line)| matches(line))
            .map(|(index, _)| index);
        async move { found }
    })
    .await
}

#[test]
fn retention_settings_errors_exit_2_naming_the_variable() {
    for (var, value) in [
        ("MEMBER_RETENTION_DAYS", "a year"),
        ("MEMBER_RETENTION_DAYS", "-1"),
        ("MODERATION_RETENTION_DAYS", "99999"),
        ("RETENTION_INTERVAL_SECONDS", "0"),
        ("RETENTION_BATCH_SIZE", "0"),
        ("RETENTION_MAX_BATCHES", "0"),
    ] {
        assert_config_error("backend", var, value);
    }
}
