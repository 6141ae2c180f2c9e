//! The backend binary as a real process: starts, answers `/live`, rejects bad
//! configuration with exit code 2.

use testkit::{ServiceBuilder, assert_config_error};

#[tokio::test]
async fn answers_live_on_an_ephemeral_port() {
    let data = std::env::temp_dir().join(format!("backend-process-{}", std::process::id()));
    let mut service = ServiceBuilder::new("backend")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/backend.db?mode=rwc", data.display()),
        )
        .spawn();
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
    assert!(
        data.join("backend.db").exists(),
        "the data directory is created"
    );
    drop(service);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn unparsable_port_exits_2_naming_the_variable() {
    assert_config_error("backend", "PORT", "abc");
}

#[test]
fn unknown_log_format_exits_2_naming_the_variable() {
    assert_config_error("backend", "LOG_FORMAT", "xml");
}

#[test]
fn unsupported_database_url_exits_2_naming_the_variable() {
    assert_config_error("backend", "DATABASE_URL", "mysql://localhost/db");
}
