//! The gateway binary as a real process: starts, answers `/live`, rejects bad
//! configuration with exit code 2.

use testkit::{ServiceBuilder, assert_config_error};

#[tokio::test]
async fn answers_live_on_an_ephemeral_port() {
    let mut service = ServiceBuilder::new("gateway").spawn();
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
    assert_config_error("gateway", "PORT", "abc");
}

#[test]
fn unknown_log_format_exits_2_naming_the_variable() {
    assert_config_error("gateway", "LOG_FORMAT", "xml");
}

#[test]
fn malformed_backend_url_exits_2_naming_the_variable() {
    assert_config_error("gateway", "BACKEND_URL", "localhost:3000");
}

#[test]
fn missing_api_keys_outside_development_exits_2_naming_the_variable() {
    for environment in ["staging", "production"] {
        let (status, stderr) = testkit::run_to_exit(
            "gateway",
            &[("ENVIRONMENT", environment), ("LOG_HASH_SALT", "test-salt")],
        );
        assert_eq!(status.code(), Some(2), "{environment}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("GATEWAY_API_KEYS"), "{stderr}");
    }
}

#[test]
fn zero_rate_limit_exits_2_naming_the_variable() {
    assert_config_error("gateway", "GATEWAY_RATE_LIMIT_PER_SECOND", "0");
}

#[test]
fn production_without_metrics_token_exits_2_naming_it() {
    let (status, stderr) = testkit::run_to_exit(
        "gateway",
        &[
            ("ENVIRONMENT", "production"),
            ("LOG_HASH_SALT", "test-salt"),
            ("GATEWAY_API_KEYS", "client-key:api"),
        ],
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("METRICS_TOKEN"), "{stderr}");
}

#[test]
fn keys_without_scopes_outside_development_exit_2_without_printing_a_key() {
    for environment in ["staging", "production"] {
        let (status, stderr) = testkit::run_to_exit(
            "gateway",
            &[
                ("ENVIRONMENT", environment),
                ("METRICS_TOKEN", "t"),
                ("LOG_HASH_SALT", "test-salt"),
                ("GATEWAY_API_KEYS", "s3cret-a:api,s3cret-b"),
            ],
        );
        assert_eq!(status.code(), Some(2), "{environment}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("GATEWAY_API_KEYS") && stderr.contains("key 2 names no scope"),
            "{stderr}"
        );
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
}
