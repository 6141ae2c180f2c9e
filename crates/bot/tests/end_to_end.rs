//! The whole path with real processes: the bot's command and event logic
//! → gateway → backend → SQLite → the answer the bot would send.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{sync::Arc, time::Duration};

use bot::{
    clients::GatewayClient,
    commands::{Outcome, modlog, stats, warn},
    events::{EventForwarder, EventSink, ForwarderConfig, logic},
};
use chrono::Utc;
use poise::serenity_prelude::{Member, Message};
use support::{
    fixture,
    stack::{self, GUILD, KEY, MEMBER, MODERATOR},
};

#[tokio::test]
async fn commands_and_events_reach_the_database_and_come_back() {
    let stack = stack::start("bot-e2e", |service| service).await;
    let client = GatewayClient::new(&stack.gateway.url(""), KEY).unwrap();

    // /warn: recorded, confirmed.
    let reply = warn::warn(
        &client,
        warn::WarnRequest {
            guild_id: GUILD,
            moderator_id: MODERATOR,
            target_id: MEMBER,
            target_is_bot: false,
            reason: "flooding #general",
        },
    )
    .await;
    assert_eq!(reply.outcome, Outcome::Ok, "{reply:?}");
    assert!(
        reply
            .content
            .as_deref()
            .unwrap()
            .starts_with(&format!("<@{MEMBER}> has been warned (case ")),
        "{reply:?}"
    );

    // /modlog: the warning is in the history.
    let reply = modlog::modlog(&client, GUILD, MEMBER).await;
    assert_eq!(reply.outcome, Outcome::Ok, "{reply:?}");
    let fields = &reply.embeds[0].fields;
    assert_eq!(fields.len(), 1, "{reply:?}");
    assert!(fields[0].0.contains("warn"), "{reply:?}");
    assert_eq!(fields[0].1, format!("by <@{MODERATOR}>: flooding #general"));

    // Events from fixtures, through the batching forwarder.
    let client = Arc::new(client);
    let (events, forwarder) = EventForwarder::spawn(client.clone(), ForwarderConfig::default());
    let member: Member = fixture("member");
    let message: Message = fixture("message");
    let mut joined = member.clone();
    joined.joined_at = Some(Utc::now().into());
    assert!(events.submit(logic::member_join(&joined, Utc::now())));
    let mut recent = message.clone();
    recent.timestamp = Utc::now().into();
    for _ in 0..3 {
        assert!(events.submit(logic::message_create(&recent).unwrap()));
    }
    forwarder.shutdown(Duration::from_secs(5)).await;

    // /stats: the gateway forwards events to the backend asynchronously.
    let reply = testkit::poll_until(testkit::STARTUP_DEADLINE, "the events in /stats", || {
        let client = client.clone();
        async move {
            let reply = stats::stats(client.as_ref(), GUILD).await;
            let messages = reply.embeds.first().and_then(|embed| {
                embed
                    .fields
                    .iter()
                    .find(|(name, _, _)| name == "Messages")
                    .map(|(_, value, _)| value.clone())
            });
            (messages.as_deref() == Some("3")).then_some(reply)
        }
    })
    .await;
    let field = |name: &str| {
        reply.embeds[0]
            .fields
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.clone())
            .unwrap()
    };
    assert_eq!(field("Members joined"), "1");
    assert_eq!(field("Moderation"), "1 warn · 0 timeout · 0 kick · 0 ban");

    // A wrong key: the user gets the generic answer, not a 401.
    let wrong = GatewayClient::new(&stack.gateway.url(""), "not-the-key").unwrap();
    let reply = stats::stats(&wrong, GUILD).await;
    assert_eq!(reply.outcome, Outcome::Error, "{reply:?}");
}
