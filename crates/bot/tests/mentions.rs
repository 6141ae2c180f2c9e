//! Replies never ping: every reply the commands produce (answers and error
//! answers alike), turned into the interaction response Discord receives
//! (poise's conversion, serenity's wire serialization), carries empty
//! `allowed_mentions`, so a `/warn` reason with `@everyone`, `<@user>` or
//! `<@&role>` is shown, never delivered as a ping.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use bot::{
    clients::{
        GatewayError,
        gateway::{ModerationAction, ModerationPage},
    },
    commands::{self, Outcome, Reply, modlog, ping, stats, warn},
};
use poise::serenity_prelude as serenity;
use serde_json::{Value, json};
use support::FakeGateway;

const GUILD: u64 = 81384788765712384;
const MODERATOR: u64 = 80351110224678912;
const TARGET: u64 = 80351110224678913;
const PINGING_REASON: &str = "@everyone @here <@80351110224678914> <@&81384788765712385> spam";

/// What Discord accepts as "ping nobody": `parse` empty and no id listed.
fn assert_pings_nobody(what: &str, payload: &Value) {
    let mentions = &payload["allowed_mentions"];
    assert_eq!(
        mentions["parse"],
        json!([]),
        "{what}: allowed_mentions.parse must be empty: {payload}"
    );
    for list in ["users", "roles"] {
        assert!(
            mentions[list].as_array().is_none_or(Vec::is_empty),
            "{what}: allowed_mentions.{list} must be empty: {payload}"
        );
    }
    assert_ne!(mentions["replied_user"], json!(true), "{what}: {payload}");
}

/// The JSON bodies the bot sends for `reply`: the initial interaction
/// response (`POST /interactions/{id}/{token}/callback`) and a follow-up.
fn wire_payloads(reply: Reply) -> (Value, Value) {
    let initial = commands::to_create_reply(reply.clone())
        .to_slash_initial_response(serenity::CreateInteractionResponseMessage::new());
    let initial =
        serde_json::to_value(serenity::CreateInteractionResponse::Message(initial)).unwrap();
    let followup = commands::to_create_reply(reply)
        .to_slash_followup_response(serenity::CreateInteractionResponseFollowup::new());
    (initial, serde_json::to_value(followup).unwrap())
}

fn warn_request(reason: &str) -> warn::WarnRequest<'_> {
    warn::WarnRequest {
        guild_id: GUILD,
        moderator_id: MODERATOR,
        target_id: TARGET,
        target_is_bot: false,
        reason,
    }
}

/// Every kind of reply each command gives: success and each failure.
async fn every_reply() -> Vec<(String, Reply)> {
    let failures = [
        GatewayError::Unavailable {
            code: "backend_unavailable".into(),
        },
        GatewayError::Unreachable("connection refused".into()),
        GatewayError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        },
        GatewayError::Rejected {
            status: 400,
            code: "invalid_field".into(),
            message: PINGING_REASON.into(),
            field: Some("reason".into()),
        },
        GatewayError::Unauthorized { status: 401 },
        GatewayError::Unexpected("500".into()),
    ];
    let history = ModerationPage {
        items: vec![ModerationAction {
            id: "17".into(),
            guild_id: GUILD,
            action: "warn".into(),
            moderator_id: MODERATOR,
            target_id: TARGET,
            reason: PINGING_REASON.into(),
            created_at: "2026-11-23T01:00:00.000Z".into(),
        }],
        next_cursor: None,
    };
    let mut replies = vec![
        (
            "ping".to_owned(),
            ping::ping(0, Some(Duration::from_millis(42))),
        ),
        (
            "warn ok".to_owned(),
            warn::warn(&FakeGateway::default(), warn_request(PINGING_REASON)).await,
        ),
        (
            "warn without reason".to_owned(),
            warn::warn(&FakeGateway::default(), warn_request(" ")).await,
        ),
        (
            "modlog ok".to_owned(),
            modlog::modlog(
                &FakeGateway {
                    history: Some(history),
                    ..FakeGateway::default()
                },
                GUILD,
                TARGET,
            )
            .await,
        ),
        (
            "guild only".to_owned(),
            Reply::failure(Outcome::Invalid, "This command only works in a server."),
        ),
    ];
    for failure in failures {
        let gateway = FakeGateway::failing(failure.clone());
        replies.push((
            format!("stats {failure}"),
            stats::stats(&gateway, GUILD).await,
        ));
        replies.push((
            format!("warn {failure}"),
            warn::warn(&gateway, warn_request(PINGING_REASON)).await,
        ));
        replies.push((
            format!("modlog {failure}"),
            modlog::modlog(&gateway, GUILD, TARGET).await,
        ));
    }
    replies
}

#[tokio::test]
async fn every_command_reply_pings_nobody() {
    let replies = every_reply().await;
    assert!(replies.len() > 20, "{} replies", replies.len());
    let echoed = replies
        .iter()
        .filter(|(_, reply)| {
            reply
                .content
                .as_deref()
                .is_some_and(|c| c.contains("@everyone"))
                || reply
                    .embeds
                    .iter()
                    .any(|e| format!("{e:?}").contains("@everyone"))
        })
        .count();
    assert!(echoed >= 2, "the reason is echoed (the case that matters)");
    for (what, reply) in replies {
        let (initial, followup) = wire_payloads(reply);
        assert_eq!(initial["type"], 4, "{what}: a channel message: {initial}");
        assert_pings_nobody(&format!("{what} (initial response)"), &initial["data"]);
        assert_pings_nobody(&format!("{what} (follow-up)"), &followup);
    }
}

/// The replies poise sends by itself (a missing permission, a command
/// error) carry no `allowed_mentions` of their own and get the framework's.
#[test]
fn the_framework_default_pings_nobody() {
    let options = commands::framework_options();
    let default = options
        .allowed_mentions
        .expect("the framework sets allowed_mentions");
    let payload = json!({ "allowed_mentions": serde_json::to_value(default).unwrap() });
    assert_pings_nobody("framework default", &payload);
}
