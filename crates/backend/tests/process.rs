//! The backend binary as a real process: starts, answers `/live`, rejects bad
//! configuration with exit code 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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
fn demo_faults_are_refused_in_production() {
    let (status, stderr) = testkit::run_to_exit(
        "backend",
        &[("ENVIRONMENT", "production"), ("DEMO_FAULTS", "true")],
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("DEMO_FAULTS") && stderr.contains("production"),
        "{stderr}"
    );
}

#[test]
fn unsupported_database_url_exits_2_naming_the_variable() {
    assert_config_error("backend", "DATABASE_URL", "mysql://localhost/db");
}

/// Starts the binary on `database_url`, stores a guild, restarts it on the
/// same database (migrations run again: a no-op) and reads the guild back.
async fn data_survives_a_restart(database_url: &str) {
    let client = testkit::http_client();
    let mut first = ServiceBuilder::new("backend")
        .env("DATABASE_URL", database_url)
        .spawn();
    first.wait_live().await;
    let response = client
        .put(first.url("/api/guilds/3"))
        .json(&serde_json::json!({"name": "Persistent"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    drop(first);

    let mut second = ServiceBuilder::new("backend")
        .env("DATABASE_URL", database_url)
        .spawn();
    second.wait_live().await;
    let guild: serde_json::Value = client
        .get(second.url("/api/guilds/3"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("GET after restart")
        .json()
        .await
        .expect("JSON");
    assert_eq!(guild["name"], "Persistent");
}

#[tokio::test]
async fn sqlite_data_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("backend-restart-{}", std::process::id()));
    data_survives_a_restart(&format!("sqlite://{}/nested/b.db?mode=rwc", dir.display())).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn postgres_data_survives_a_restart() {
    let Some(cluster) =
        testkit::postgres::PgCluster::start_or_skip("postgres_data_survives_a_restart")
    else {
        return;
    };
    data_survives_a_restart(&cluster.create_database()).await;
}
