//! Command logic against an in-memory gateway: what the bot would answer,
//! and which API calls it makes, without Discord.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use bot::{
    clients::{
        GatewayError,
        gateway::{
            ActionCounts, GuildStats, ModerationAction, ModerationPage, NewModerationAction,
        },
    },
    commands::{Outcome, modlog, stats, warn},
};
use support::{Call, FakeGateway};

const GUILD: u64 = 81384788765712384;
const MODERATOR: u64 = 80351110224678912;
const TARGET: u64 = 80351110224678913;

fn unavailable() -> GatewayError {
    GatewayError::Unavailable {
        code: "backend_unavailable".into(),
    }
}

#[tokio::test]
async fn stats_shows_the_guild_activity() {
    let gateway = FakeGateway {
        stats: Some(GuildStats {
            guild_id: GUILD,
            window_seconds: 86_400,
            members_joined: 12,
            members_left: 3,
            messages: 4_521,
            actions: ActionCounts {
                warn: 2,
                timeout: 1,
                kick: 0,
                ban: 1,
            },
        }),
        ..FakeGateway::default()
    };
    let reply = stats::stats(&gateway, GUILD).await;

    assert_eq!(reply.outcome, Outcome::Ok);
    assert_eq!(
        gateway.calls(),
        vec![Call::Stats {
            guild_id: GUILD,
            window: "24h".into()
        }]
    );
    let embed = &reply.embeds[0];
    assert_eq!(embed.title, "Server activity, last 24 h");
    let field = |name: &str| {
        embed
            .fields
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.clone())
            .unwrap()
    };
    assert_eq!(field("Members joined"), "12");
    assert_eq!(field("Members left"), "3");
    assert_eq!(field("Messages"), "4521");
    assert_eq!(field("Moderation"), "2 warn · 1 timeout · 0 kick · 1 ban");
}

#[tokio::test]
async fn backend_down_gives_a_friendly_private_answer() {
    let reply = stats::stats(&FakeGateway::failing(unavailable()), GUILD).await;
    assert_eq!(reply.outcome, Outcome::Unavailable);
    assert!(reply.ephemeral);
    assert_eq!(
        reply.content.as_deref(),
        Some("The moderation service is unavailable right now. Please try again in a minute.")
    );
    // Unreachable gateway reads the same to the user.
    let reply = stats::stats(
        &FakeGateway::failing(GatewayError::Unreachable("connection refused".into())),
        GUILD,
    )
    .await;
    assert_eq!(reply.outcome, Outcome::Unavailable);
    assert!(!reply.content.unwrap().contains("connection refused"));
}

#[tokio::test]
async fn rate_limit_says_when_to_retry() {
    let gateway = FakeGateway::failing(GatewayError::RateLimited {
        retry_after: Some(Duration::from_secs(7)),
    });
    let reply = modlog::modlog(&gateway, GUILD, TARGET).await;
    assert_eq!(reply.outcome, Outcome::RateLimited);
    assert_eq!(
        reply.content.as_deref(),
        Some("Too many requests right now. Please try again in 7 s.")
    );
}

#[tokio::test]
async fn a_refused_request_explains_itself_without_internals() {
    let gateway = FakeGateway::failing(GatewayError::Rejected {
        status: 400,
        code: "invalid_field".into(),
        message: "reason must be at most 512 characters".into(),
        field: Some("reason".into()),
    });
    let reply = warn::warn(&gateway, request("spam")).await;
    assert_eq!(reply.outcome, Outcome::Invalid);
    assert_eq!(
        reply.content.as_deref(),
        Some("That request was refused (reason): reason must be at most 512 characters")
    );

    // The bot's own key refused: our mistake, not the user's.
    let gateway = FakeGateway::failing(GatewayError::Unauthorized { status: 401 });
    let reply = stats::stats(&gateway, GUILD).await;
    assert_eq!(reply.outcome, Outcome::Error);
    assert!(reply.ephemeral);

    let gateway = FakeGateway::failing(GatewayError::Unexpected("500: boom".into()));
    let reply = stats::stats(&gateway, GUILD).await;
    assert_eq!(reply.outcome, Outcome::Error);
    assert!(!reply.content.unwrap().contains("boom"));
}

fn request(reason: &str) -> warn::WarnRequest<'_> {
    warn::WarnRequest {
        guild_id: GUILD,
        moderator_id: MODERATOR,
        target_id: TARGET,
        target_is_bot: false,
        reason,
    }
}

#[tokio::test]
async fn warn_records_the_action_and_confirms() {
    let gateway = FakeGateway::default();
    let reply = warn::warn(&gateway, request("  spamming links  ")).await;

    assert_eq!(reply.outcome, Outcome::Ok);
    assert_eq!(
        gateway.calls(),
        vec![Call::Record {
            guild_id: GUILD,
            action: NewModerationAction {
                action: "warn".into(),
                moderator_id: MODERATOR,
                target_id: TARGET,
                reason: "spamming links".into(),
            }
        }]
    );
    assert_eq!(
        reply.content.as_deref(),
        Some("<@80351110224678913> has been warned (case 17): spamming links")
    );
}

#[tokio::test]
async fn warn_refuses_bad_requests_before_calling_the_gateway() {
    let gateway = FakeGateway::default();
    let too_long = "x".repeat(warn::MAX_REASON_CHARS + 1);
    let cases = [
        (request("   "), "Please give a reason for the warning."),
        (
            request(&too_long),
            "The reason is too long (at most 512 characters).",
        ),
        (
            warn::WarnRequest {
                target_id: MODERATOR,
                ..request("me")
            },
            "You cannot warn yourself.",
        ),
        (
            warn::WarnRequest {
                target_is_bot: true,
                ..request("beep")
            },
            "Bots cannot be warned.",
        ),
    ];
    for (request, expected) in cases {
        let reply = warn::warn(&gateway, request).await;
        assert_eq!(reply.outcome, Outcome::Invalid);
        assert!(reply.ephemeral);
        assert_eq!(reply.content.as_deref(), Some(expected));
    }
    assert!(gateway.calls().is_empty());
}

#[tokio::test]
async fn modlog_lists_the_history() {
    let action = |id: &str, kind: &str| ModerationAction {
        id: id.into(),
        guild_id: GUILD,
        action: kind.into(),
        moderator_id: MODERATOR,
        target_id: TARGET,
        reason: format!("{kind} reason"),
        created_at: "2026-11-22T10:00:00Z".into(),
    };
    let gateway = FakeGateway {
        history: Some(ModerationPage {
            items: vec![action("9", "timeout"), action("4", "warn")],
            next_cursor: Some("4".into()),
        }),
        ..FakeGateway::default()
    };
    let reply = modlog::modlog(&gateway, GUILD, TARGET).await;

    assert_eq!(reply.outcome, Outcome::Ok);
    assert_eq!(
        gateway.calls(),
        vec![Call::History {
            guild_id: GUILD,
            target_id: TARGET,
            limit: 10
        }]
    );
    let embed = &reply.embeds[0];
    assert_eq!(embed.fields.len(), 2);
    assert_eq!(embed.fields[0].0, "#9 · timeout · 2026-11-22T10:00:00Z");
    assert_eq!(embed.fields[0].1, "by <@80351110224678912>: timeout reason");
    assert_eq!(
        embed.description.as_deref(),
        Some("<@80351110224678913>, latest 2 actions")
    );
}

#[tokio::test]
async fn modlog_without_history_says_so() {
    let reply = modlog::modlog(&FakeGateway::default(), GUILD, TARGET).await;
    assert_eq!(reply.outcome, Outcome::Ok);
    assert_eq!(
        reply.content.as_deref(),
        Some("<@80351110224678913> has no moderation history.")
    );
}

#[tokio::test]
async fn every_command_is_timed_by_command_and_outcome() {
    let reply = bot::commands::instrumented(
        bot::commands::Invocation {
            command: "timed_probe",
            guild_id: Some(GUILD),
            user_id: TARGET,
        },
        async { bot::commands::Reply::failure(Outcome::Invalid, "nope") },
    )
    .await;
    assert_eq!(reply.outcome, Outcome::Invalid);
    let metrics = telemetry::metrics::encode().unwrap();
    assert!(
        metrics.contains(
            r#"discord_command_duration_seconds_count{command="timed_probe",outcome="invalid"} 1"#
        ),
        "{metrics}"
    );
}
