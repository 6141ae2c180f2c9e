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
        &[
            ("ENVIRONMENT", "production"),
            ("METRICS_TOKEN", "t"),
            ("LOG_HASH_SALT", "test-salt"),
            ("DEMO_FAULTS", "true"),
        ],
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

/// `sqlite:///abs/path.db`, as most people type it (no `mode`): the file and
/// its missing parent directories are created, as with the default URL.
#[tokio::test]
async fn a_sqlite_url_without_mode_creates_the_file_and_its_directories() {
    let root = std::env::temp_dir().join(format!("backend-sqlite-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (url, file) in [
        (
            format!("sqlite://{}/new.db", root.display()),
            root.join("new.db"),
        ),
        (
            format!("sqlite://{}/missing/parent/new.db", root.display()),
            root.join("missing/parent/new.db"),
        ),
    ] {
        std::fs::create_dir_all(&root).expect("temp dir");
        let mut service = ServiceBuilder::new("backend")
            .env("DATABASE_URL", &url)
            .spawn();
        service.wait_for_status("/ready", 200).await;
        assert!(file.is_file(), "{url} creates {}", file.display());
        drop(service);
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// An explicit `mode=rw` (or `ro`) never creates the file: one line naming
/// the variable and what to change, exit 2, not sqlx's "unable to open".
#[test]
fn a_missing_sqlite_file_with_an_explicit_mode_exits_2_saying_what_to_add() {
    let dir = std::env::temp_dir().join(format!("backend-sqlite-rw-{}", std::process::id()));
    for mode in ["rw", "ro"] {
        let url = format!("sqlite://{}/absent.db?mode={mode}", dir.display());
        assert_config_error("backend", "DATABASE_URL", &url);
        let (_, stderr) = testkit::run_to_exit("backend", &[("DATABASE_URL", &url)]);
        assert!(stderr.contains("mode=rwc"), "says what to add: {stderr}");
    }
    assert!(!dir.exists(), "nothing is created for an explicit mode");
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
