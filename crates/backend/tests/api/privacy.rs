//! Personal data: erasure on request and the retention job, on every engine.

use axum::http::StatusCode;
use backend::{
    model::{Action, Event, EventType, NewModerationAction, now_ms},
    pseudonym::PSEUDONYM_FLOOR,
    retention::{self, RetentionConfig, RunReport},
    routes::ERASURES,
    snowflake::Snowflake,
    store::ERASED_REASON,
};
use serde_json::{Value, json};
use telemetry::Shutdown;

use crate::harness::{TestApp, assert_error};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn id(raw: i64) -> Snowflake {
    Snowflake::from_db(raw)
}

/// `user` seen in `guild` `days_ago` days ago.
async fn seen(app: &TestApp, guild: i64, user: i64, days_ago: i64) {
    let event = Event {
        kind: EventType::MemberJoin,
        guild_id: id(guild),
        user_id: id(user),
        occurred_at: now_ms() - days_ago * DAY_MS,
    };
    app.store
        .ingest_events(&[event], None, now_ms())
        .await
        .unwrap();
}

/// A moderation entry recorded `days_ago` days ago.
async fn moderate(
    app: &TestApp,
    guild: i64,
    moderator: i64,
    target: i64,
    reason: &str,
    days_ago: i64,
) {
    let action = NewModerationAction {
        action: Action::Warn,
        moderator_id: id(moderator),
        target_id: id(target),
        reason: reason.to_owned(),
    };
    app.store
        .insert_moderation_action(id(guild), &action, now_ms() - days_ago * DAY_MS)
        .await
        .unwrap();
}

async fn member_ids(app: &TestApp, guild: i64) -> Vec<String> {
    let (status, page) = app.get(&format!("/api/guilds/{guild}/members")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["user_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn moderation(app: &TestApp, guild: i64) -> Vec<Value> {
    let (status, page) = app.get(&format!("/api/guilds/{guild}/moderation")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

pub async fn erasure_deletes_members_and_pseudonymises_moderation(app: &TestApp) {
    const ERASED: i64 = 987_654_321_987_654_321;
    const OTHER: i64 = 222;
    const MODERATOR: i64 = 333;
    seen(app, 1, ERASED, 1).await;
    seen(app, 2, ERASED, 1).await;
    seen(app, 1, OTHER, 1).await;
    moderate(
        app,
        1,
        MODERATOR,
        ERASED,
        "posted 987654321987654321's address",
        2,
    )
    .await;
    moderate(app, 1, MODERATOR, ERASED, "again", 1).await;
    moderate(app, 1, ERASED, OTHER, "spam by the other member", 1).await;
    let (_, stats_before) = app.get("/api/guilds/1/stats?window=7d").await;
    let erasures_before = ERASURES.get();

    let request = json!({ "user_id": ERASED.to_string() });
    let (status, report) = app.post("/api/privacy/erasures", &request).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let pseudonym = report["pseudonym"].as_str().unwrap().to_owned();
    assert!(
        pseudonym.parse::<i64>().unwrap() >= PSEUDONYM_FLOOR,
        "{report}"
    );
    assert_eq!(
        report,
        json!({
            "pseudonym": pseudonym,
            "members_deleted": 2,
            "moderation_actions_as_target": 2,
            "moderation_actions_as_moderator": 1,
        })
    );
    assert!(ERASURES.get() > erasures_before);

    // Member rows: gone in every guild; the other member's stay.
    assert_eq!(member_ids(app, 1).await, [OTHER.to_string()]);
    assert!(member_ids(app, 2).await.is_empty());
    // Moderation entries: kept under the pseudonym, the reasons about the
    // erased user cleared, the one they wrote about someone else kept.
    let entries = moderation(app, 1).await;
    assert_eq!(entries.len(), 3);
    assert!(
        !Value::Array(entries.clone())
            .to_string()
            .contains(&ERASED.to_string())
    );
    let as_target: Vec<&Value> = entries
        .iter()
        .filter(|e| e["target_id"] == pseudonym)
        .collect();
    assert_eq!(as_target.len(), 2, "{entries:?}");
    for entry in as_target {
        assert_eq!(entry["reason"], ERASED_REASON);
        assert_eq!(entry["moderator_id"], MODERATOR.to_string());
    }
    let as_moderator = entries
        .iter()
        .find(|e| e["moderator_id"] == pseudonym)
        .unwrap();
    assert_eq!(as_moderator["target_id"], OTHER.to_string());
    assert_eq!(as_moderator["reason"], "spam by the other member");
    // One user's history still groups under one id, and the counts hold.
    let (_, history) = app
        .get(&format!("/api/guilds/1/moderation?target={pseudonym}"))
        .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 2, "{history}");
    let (_, stats_after) = app.get("/api/guilds/1/stats?window=7d").await;
    assert_eq!(stats_after["actions"], stats_before["actions"]);

    // Idempotent: nothing left to erase, the same pseudonym.
    let (status, again) = app.post("/api/privacy/erasures", &request).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again,
        json!({
            "pseudonym": pseudonym,
            "members_deleted": 0,
            "moderation_actions_as_target": 0,
            "moderation_actions_as_moderator": 0,
        })
    );
}

pub async fn erasure_body_errors_name_the_field(app: &TestApp) {
    let path = "/api/privacy/erasures";
    for (body, field) in [
        (json!({}), "user_id"),
        (json!({"user_id": "0"}), "user_id"),
        (json!({"user_id": 42}), "user_id"),
        (json!({"user_id": PSEUDONYM_FLOOR.to_string()}), "user_id"),
    ] {
        let response = app.post(path, &body).await;
        assert_error(&response, 400, "invalid_field", Some(field));
    }
    let response = app
        .post(path, &json!({"user_id": "1", "guild_id": "2"}))
        .await;
    assert_eq!(response.0, StatusCode::BAD_REQUEST, "{}", response.1);
    let response = app.get(path).await;
    assert_error(&response, 405, "method_not_allowed", None);
}

fn running() -> Shutdown {
    Shutdown::new(Default::default())
}

pub async fn retention_removes_old_rows_and_keeps_recent_ones(app: &TestApp) {
    let config = RetentionConfig::default(); // 365 days for members, 730 for moderation
    seen(app, 5, 1, 400).await;
    seen(app, 5, 2, 300).await;
    seen(app, 5, 3, 0).await;
    moderate(app, 5, 9, 1, "old", 800).await;
    moderate(app, 5, 9, 2, "recent", 700).await;

    let report = retention::run_once(&app.store, &config, now_ms(), &running())
        .await
        .unwrap();
    assert_eq!(
        report,
        RunReport {
            members: 1,
            moderation_actions: 1,
            backlog: false
        }
    );
    assert_eq!(member_ids(app, 5).await, ["2", "3"]);
    let entries = moderation(app, 5).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["reason"], "recent");

    // 0 days: kept forever, whatever their age.
    let forever = RetentionConfig {
        members: None,
        moderation: None,
        ..config
    };
    let in_ten_years = now_ms() + 3650 * DAY_MS;
    let report = retention::run_once(&app.store, &forever, in_ten_years, &running())
        .await
        .unwrap();
    assert_eq!(report, RunReport::default());
    assert_eq!(member_ids(app, 5).await.len(), 2);
}

pub async fn retention_work_per_run_is_bounded(app: &TestApp) {
    for user in 1..=5 {
        seen(app, 6, user, 1000).await;
    }
    let config = RetentionConfig {
        batch_size: 2,
        max_batches: 1,
        ..RetentionConfig::default()
    };
    let mut runs = Vec::new();
    loop {
        let report = retention::run_once(&app.store, &config, now_ms(), &running())
            .await
            .unwrap();
        runs.push((report.members, report.backlog));
        if !report.backlog {
            break;
        }
        assert!(runs.len() < 10, "{runs:?}");
    }
    // Two rows per run at most; the run that finds fewer than a batch ends
    // the backlog.
    assert_eq!(runs, [(2, true), (2, true), (1, false)]);
    assert!(member_ids(app, 6).await.is_empty());

    // Shutdown begun: the run stops before its first batch.
    seen(app, 6, 7, 1000).await;
    let stopping = running();
    stopping.begin();
    let report = retention::run_once(&app.store, &config, now_ms(), &stopping)
        .await
        .unwrap();
    assert_eq!((report.members, report.backlog), (0, true));
    assert_eq!(member_ids(app, 6).await, ["7"]);
}

pub async fn retention_job_runs_at_start_and_stops_on_shutdown(app: &TestApp) {
    seen(app, 7, 1, 1000).await;
    seen(app, 7, 2, 0).await;
    let shutdown = running();
    let job = retention::spawn(
        app.store.clone(),
        RetentionConfig::default(),
        shutdown.clone(),
    );
    testkit::poll_until(
        std::time::Duration::from_secs(20),
        "the first run",
        || async { (member_ids(app, 7).await == ["2"]).then_some(()) },
    )
    .await;
    shutdown.begin();
    tokio::time::timeout(std::time::Duration::from_secs(20), job)
        .await
        .expect("the job ends once shutdown begins")
        .unwrap();
}
