//! One async function per behaviour; `main.rs` runs each on every engine.

use axum::http::{Method, StatusCode};
use backend::routes::MODERATION_ACTIONS;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::harness::{TestApp, assert_error};
// Personal data's cases live in their own module, run by the same table.
pub use crate::privacy::*;

fn event(kind: &str, guild: &str, user: &str, ago: Duration) -> Value {
    json!({
        "type": kind,
        "guild_id": guild,
        "user_id": user,
        "occurred_at": (Utc::now() - ago).to_rfc3339(),
    })
}

async fn ingest(app: &TestApp, events: Vec<Value>) {
    let count = events.len();
    let response = app.post("/api/events", &json!({ "events": events })).await;
    assert_eq!(
        response,
        (
            StatusCode::OK,
            json!({ "ingested": count, "duplicate": false })
        )
    );
}

pub async fn guild_is_created_then_updated(app: &TestApp) {
    let (status, created) = app
        .put(
            "/api/guilds/42",
            &json!({"name": "Rustaceans", "settings": {"locale": "fr"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["id"], "42");
    assert_eq!(created["name"], "Rustaceans");
    assert_eq!(created["settings"], json!({"locale": "fr"}));
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    // Without settings: renamed, settings kept.
    let (status, renamed) = app.put("/api/guilds/42", &json!({"name": "Crabs"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["name"], "Crabs");
    assert_eq!(renamed["settings"], json!({"locale": "fr"}));
    assert_eq!(renamed["created_at"], created["created_at"]);

    let (status, fetched) = app.get("/api/guilds/42").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, renamed);

    let (_, replaced) = app
        .put("/api/guilds/42", &json!({"name": "Crabs", "settings": {}}))
        .await;
    assert_eq!(replaced["settings"], json!({}));

    // The largest snowflake that fits the column round-trips exactly.
    let max = i64::MAX.to_string();
    let (status, big) = app
        .put(&format!("/api/guilds/{max}"), &json!({"name": "Big"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(big["id"], max);
    assert_eq!(big["settings"], json!({}));
}

pub async fn unknown_guild_is_404_json(app: &TestApp) {
    assert_error(&app.get("/api/guilds/7").await, 404, "not_found", None);
}

pub async fn invalid_guild_id_is_400_naming_id(app: &TestApp) {
    for id in ["abc", "0", "-5", "1.5", "9223372036854775808"] {
        let response = app.get(&format!("/api/guilds/{id}")).await;
        assert_error(&response, 400, "invalid_field", Some("id"));
    }
    let response = app.get("/api/guilds/abc/stats").await;
    assert_error(&response, 400, "invalid_field", Some("id"));
}

pub async fn guild_body_errors_name_the_field(app: &TestApp) {
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": 5}), "name"),
        (json!({}), "name"),
        (json!({"name": "ok", "settings": [1]}), "settings"),
        (json!({"name": "ok", "owner": "me"}), "owner"),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let response = app.put("/api/guilds/1", &body).await;
        assert_error(&response, 400, "invalid_field", Some(field));
    }
    let (status, _) = app
        .put("/api/guilds/1", &json!({"name": "é".repeat(100)}))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "100 characters (200 bytes) is within the limit"
    );
    // Nothing was stored by the rejected requests above but that last one.
    assert_eq!(app.get("/api/guilds/1").await.1["name"], "é".repeat(100));
}

pub async fn body_format_errors_are_json(app: &TestApp) {
    let malformed = app
        .raw(
            Method::PUT,
            "/api/guilds/1",
            "application/json",
            "{\"name\": ",
        )
        .await;
    assert_error(&malformed, 400, "malformed_json", None);
    let not_json = app
        .raw(
            Method::PUT,
            "/api/guilds/1",
            "text/plain",
            "{\"name\": \"x\"}",
        )
        .await;
    assert_error(&not_json, 415, "unsupported_media_type", None);
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let too_large = app
        .raw(Method::PUT, "/api/guilds/1", "application/json", huge)
        .await;
    assert_error(&too_large, 413, "payload_too_large", None);

    // `/api/events` has a larger limit than the other routes (4 MiB).
    let event = event("member_join", "1", "2", Duration::zero());
    let padded = format!("{{\"events\": [{event}]{}}}", " ".repeat(1536 * 1024));
    let response = app
        .raw(Method::POST, "/api/events", "application/json", padded)
        .await;
    assert_eq!(
        response,
        (StatusCode::OK, json!({"ingested": 1, "duplicate": false}))
    );
    let padded = format!("{{\"events\": [{event}]{}}}", " ".repeat(5 * 1024 * 1024));
    let response = app
        .raw(Method::POST, "/api/events", "application/json", padded)
        .await;
    assert_error(&response, 413, "payload_too_large", None);
}

pub async fn members_are_paginated_by_cursor(app: &TestApp) {
    let hour = Duration::hours(1);
    ingest(
        app,
        vec![
            event("member_join", "9", "5", hour * 3),
            event("member_join", "9", "3", hour * 3),
            event("message_create", "9", "1", hour * 2),
            event("member_join", "9", "4", hour * 2),
            event("member_leave", "9", "4", hour),
            event("member_join", "9", "2", hour),
            event("member_join", "10", "6", hour),
        ],
    )
    .await;
    let mut seen = Vec::new();
    let mut path = "/api/guilds/9/members?limit=2".to_owned();
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for item in items {
            seen.push(item["user_id"].as_str().unwrap().to_owned());
            let left = item.get("left_at").is_some();
            assert_eq!(left, item["user_id"] == "4", "{item}");
            assert!(item["first_seen"].as_str().unwrap() <= item["last_seen"].as_str().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/guilds/9/members?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["1", "2", "3", "4", "5"]);

    let (_, default_page) = app.get("/api/guilds/9/members").await;
    assert_eq!(default_page["items"].as_array().unwrap().len(), 5);
    assert!(default_page["next_cursor"].is_null());

    // A member who comes back is no longer marked as gone.
    ingest(app, vec![event("member_join", "9", "4", Duration::zero())]).await;
    let (_, page) = app.get("/api/guilds/9/members?cursor=3&limit=1").await;
    assert_eq!(page["items"][0]["user_id"], "4");
    assert!(page["items"][0].get("left_at").is_none(), "{page}");
}

pub async fn members_query_errors_name_the_parameter(app: &TestApp) {
    for query in ["limit=0", "limit=101", "limit=abc", "limit=-1"] {
        let response = app.get(&format!("/api/guilds/9/members?{query}")).await;
        assert_error(&response, 400, "invalid_field", Some("limit"));
    }
    let response = app.get("/api/guilds/9/members?cursor=zzz").await;
    assert_error(&response, 400, "invalid_field", Some("cursor"));
    let (status, _) = app.get("/api/guilds/9/members?limit=100").await;
    assert_eq!(status, StatusCode::OK);
}

pub async fn moderation_actions_are_listed_newest_first(app: &TestApp) {
    let before = MODERATION_ACTIONS.with_label_values(&["kick"]).get();
    let mut created = Vec::new();
    for (action, target) in [("warn", "100"), ("kick", "200"), ("ban", "100")] {
        let body = json!({
            "action": action,
            "moderator_id": "1",
            "target_id": target,
            "reason": format!("{action} for testing"),
        });
        let (status, record) = app.post("/api/guilds/5/moderation", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{record}");
        assert_eq!(record["guild_id"], "5");
        assert_eq!(record["action"], action);
        assert_eq!(record["target_id"], target);
        assert!(record["id"].as_str().unwrap().parse::<i64>().unwrap() > 0);
        created.push(record);
    }
    assert!(MODERATION_ACTIONS.with_label_values(&["kick"]).get() > before);

    let (status, all) = app.get("/api/guilds/5/moderation").await;
    assert_eq!(status, StatusCode::OK);
    let newest_first: Vec<Value> = created.iter().rev().cloned().collect();
    assert_eq!(all["items"], json!(newest_first));
    assert!(all["next_cursor"].is_null());

    let (_, for_target) = app.get("/api/guilds/5/moderation?target=100").await;
    let actions: Vec<&str> = for_target["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["ban", "warn"]);

    let (_, first) = app.get("/api/guilds/5/moderation?limit=1").await;
    assert_eq!(first["items"][0]["action"], "ban");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get(&format!("/api/guilds/5/moderation?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["items"][0]["action"], "kick");

    let (_, other_guild) = app.get("/api/guilds/6/moderation").await;
    assert_eq!(other_guild["items"], json!([]));
}

pub async fn moderation_body_errors_name_the_field(app: &TestApp) {
    let valid = json!({"action": "warn", "moderator_id": "1", "target_id": "2", "reason": "spam"});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        (with("action", json!("mute")), "action"),
        (with("moderator_id", json!(1)), "moderator_id"),
        (with("moderator_id", json!("0")), "moderator_id"),
        (with("target_id", json!("x")), "target_id"),
        (with("reason", json!("")), "reason"),
        (with("reason", json!("r".repeat(513))), "reason"),
        (with("extra", json!(true)), "extra"),
        (without("target_id"), "target_id"),
        (without("action"), "action"),
    ];
    for (body, field) in cases {
        let response = app.post("/api/guilds/5/moderation", &body).await;
        assert_error(&response, 400, "invalid_field", Some(field));
    }
    for query in ["target=abc", "cursor=-1", "limit=1000"] {
        let response = app.get(&format!("/api/guilds/5/moderation?{query}")).await;
        let field = query.split('=').next().unwrap();
        assert_error(&response, 400, "invalid_field", Some(field));
    }
    let (_, listed) = app.get("/api/guilds/5/moderation").await;
    assert_eq!(
        listed["items"],
        json!([]),
        "nothing stored by rejected requests"
    );
}

pub async fn events_feed_the_stats(app: &TestApp) {
    let minute = Duration::minutes(1);
    let mut events = vec![
        event("member_join", "77", "1", minute),
        event("member_join", "77", "2", minute),
        event("member_join", "77", "3", minute * 30),
        event("member_leave", "77", "3", minute * 10),
        event("ban_add", "77", "3", minute * 10),
        event("member_join", "78", "1", minute),
        // Two days ago: outside 24h, inside 7d.
        event("member_join", "77", "9", Duration::days(2)),
    ];
    for _ in 0..5 {
        events.push(event("message_create", "77", "1", minute));
    }
    ingest(app, events).await;
    for action in ["warn", "warn", "ban"] {
        let body = json!({"action": action, "moderator_id": "1", "target_id": "3", "reason": "r"});
        assert_eq!(
            app.post("/api/guilds/77/moderation", &body).await.0,
            StatusCode::CREATED
        );
    }

    let (status, day) = app.get("/api/guilds/77/stats?window=24h").await;
    assert_eq!(status, StatusCode::OK, "{day}");
    assert_eq!(
        day,
        json!({
            "guild_id": "77",
            "window_seconds": 86_400,
            "members_joined": 3,
            "members_left": 1,
            "messages": 5,
            "actions": {"warn": 2, "timeout": 0, "kick": 0, "ban": 1},
        })
    );
    let (_, default_window) = app.get("/api/guilds/77/stats").await;
    assert_eq!(default_window, day);
    let (_, week) = app.get("/api/guilds/77/stats?window=7d").await;
    assert_eq!(week["members_joined"], 4);
    assert_eq!(week["window_seconds"], 604_800);

    // Counts accumulate across batches.
    ingest(app, vec![event("message_create", "77", "2", minute)]).await;
    let (_, again) = app.get("/api/guilds/77/stats?window=90m").await;
    assert_eq!(again["messages"], 6);

    let (_, empty) = app.get("/api/guilds/79/stats").await;
    assert_eq!(empty["members_joined"], 0);
    assert_eq!(empty["actions"]["ban"], 0);
}

pub async fn event_batch_errors_name_the_field(app: &TestApp) {
    let good = event("member_join", "1", "2", Duration::zero());
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        json!({ "events": [good.clone(), body] })
    };
    let cases = [
        (json!({"events": []}), "events"),
        (json!({"events": vec![good.clone(); 1001]}), "events"),
        (json!({"events": "x"}), "events"),
        (json!({}), "events"),
        (with("type", json!("typing")), "events[1].type"),
        (with("guild_id", json!("abc")), "events[1].guild_id"),
        (with("user_id", json!(2)), "events[1].user_id"),
        (
            with("occurred_at", json!("yesterday")),
            "events[1].occurred_at",
        ),
        // Message content has no place in the model: rejected, not ignored.
        (with("content", json!("hello")), "events[1].content"),
    ];
    for (body, field) in cases {
        let response = app.post("/api/events", &body).await;
        assert_error(&response, 400, "invalid_field", Some(field));
    }
    let (_, stats) = app.get("/api/guilds/1/stats").await;
    assert_eq!(
        stats["members_joined"], 0,
        "a rejected batch stores nothing"
    );
    let full = json!({"events": vec![good; 1000]});
    assert_eq!(app.post("/api/events", &full).await.0, StatusCode::OK);
}

/// A batch sent again with its `Idempotency-Key` (the gateway's retry after
/// a lost answer) is counted once; another key is another batch.
pub async fn a_repeated_batch_key_is_counted_once(app: &TestApp) {
    let batch = json!({"events": [
        event("message_create", "90", "1", Duration::zero()),
        event("message_create", "90", "2", Duration::zero()),
    ]});
    let first = app.post_keyed("/api/events", &batch, "batch-a").await;
    assert_eq!(
        first,
        (StatusCode::OK, json!({"ingested": 2, "duplicate": false}))
    );
    for _ in 0..2 {
        let again = app.post_keyed("/api/events", &batch, "batch-a").await;
        assert_eq!(
            again,
            (StatusCode::OK, json!({"ingested": 0, "duplicate": true}))
        );
    }
    let (_, stats) = app.get("/api/guilds/90/stats").await;
    assert_eq!(stats["messages"], 2, "{stats}");
    let other = app.post_keyed("/api/events", &batch, "batch-b").await;
    assert_eq!(other.1["ingested"], 2);
    let (_, stats) = app.get("/api/guilds/90/stats").await;
    assert_eq!(stats["messages"], 4, "{stats}");

    for bad in ["", "two words", &"k".repeat(129)] {
        let response = app.post_keyed("/api/events", &batch, bad).await;
        assert_error(&response, 400, "invalid_field", Some("Idempotency-Key"));
    }
    let (_, stats) = app.get("/api/guilds/90/stats").await;
    assert_eq!(stats["messages"], 4, "a refused key stores nothing");
}

pub async fn stats_window_errors_name_the_window(app: &TestApp) {
    for window in ["30m", "31d", "abc", "24", "1w", ""] {
        let response = app
            .get(&format!("/api/guilds/1/stats?window={window}"))
            .await;
        if window.is_empty() {
            assert_eq!(response.0, StatusCode::OK, "empty means default");
        } else {
            assert_error(&response, 400, "invalid_field", Some("window"));
        }
    }
}

pub async fn unknown_routes_and_methods_are_json(app: &TestApp) {
    assert_error(&app.get("/api/nope").await, 404, "not_found", None);
    assert_error(&app.get("/").await, 404, "not_found", None);
    let response = app.json(Method::DELETE, "/api/guilds/1", &json!({})).await;
    assert_error(&response, 405, "method_not_allowed", None);
    let response = app.json(Method::GET, "/api/events", &json!({})).await;
    assert_error(&response, 405, "method_not_allowed", None);
}

pub async fn health_check_passes_once_migrated(app: &TestApp) {
    assert_eq!(app.store.health().await, Ok(()));
}
