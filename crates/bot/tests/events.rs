//! Event logic fed with Discord model values deserialized from JSON fixtures,
//! through the real batching forwarder to an in-memory gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{sync::Arc, time::Duration};

use bot::{
    clients::{
        GatewayError,
        gateway::{EventKind, GatewayEvent},
    },
    events::{self, EventForwarder, EventSink, ForwarderConfig, forwarder::EVENTS_DROPPED, logic},
};
use chrono::{TimeZone, Utc};
use poise::serenity_prelude::{GuildId, Member, Message, User};
use support::{FakeGateway, fixture};

const GUILD: u64 = 81384788765712384;
const USER: u64 = 80351110224678912;

fn event(kind: EventKind, occurred_at: &str) -> GatewayEvent {
    GatewayEvent {
        kind,
        guild_id: GUILD,
        user_id: USER,
        occurred_at: occurred_at.into(),
    }
}

#[test]
fn fixtures_become_gateway_events() {
    let member: Member = fixture("member");
    let user: User = fixture("user");
    let message: Message = fixture("message");
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 1, 2, 3).unwrap();

    assert_eq!(
        logic::member_join(&member, now),
        event(EventKind::MemberJoin, "2026-11-20T18:04:05.123Z")
    );
    assert_eq!(
        logic::member_leave(GuildId::new(GUILD), &user, now),
        event(EventKind::MemberLeave, "2026-11-23T01:02:03.000Z")
    );
    assert_eq!(
        logic::message_create(&message),
        Some(event(EventKind::MessageCreate, "2026-11-21T09:30:00.500Z"))
    );
    assert_eq!(
        logic::ban_add(GuildId::new(GUILD), &user, now),
        event(EventKind::BanAdd, "2026-11-23T01:02:03.000Z")
    );
}

#[test]
fn bot_and_direct_messages_are_not_counted() {
    let from_bot: Message = fixture("bot_message");
    assert_eq!(logic::message_create(&from_bot), None);
    let mut direct: Message = fixture("message");
    direct.guild_id = None;
    assert_eq!(logic::message_create(&direct), None);
}

#[tokio::test]
async fn events_are_forwarded_in_batches() {
    let gateway = Arc::new(FakeGateway::default());
    let config = ForwarderConfig {
        capacity: 1_000,
        max_batch: 3,
        flush_interval: Duration::from_millis(20),
    };
    let (forwarder, task) = EventForwarder::spawn(gateway.clone(), config);
    let message: Message = fixture("message");
    for _ in 0..7 {
        events::handle(&forwarder, "message_create", message.guild_id, || {
            logic::message_create(&message)
        });
    }
    task.shutdown(Duration::from_secs(5)).await;

    let batches: Vec<usize> = gateway
        .calls()
        .into_iter()
        .map(|call| match call {
            support::Call::Events(events) => events.len(),
            other => panic!("unexpected call {other:?}"),
        })
        .collect();
    assert_eq!(batches.iter().sum::<usize>(), 7, "batches: {batches:?}");
    assert!(batches.iter().all(|&n| n <= 3), "batches: {batches:?}");
    assert!(
        gateway
            .events()
            .iter()
            .all(|e| *e == event(EventKind::MessageCreate, "2026-11-21T09:30:00.500Z"))
    );
    assert!(
        events::EVENTS_TOTAL
            .with_label_values(&["message_create"])
            .get()
            >= 7
    );
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_blocking() {
    // Long flush interval and large batch: nothing leaves the queue while we fill it.
    let gateway = Arc::new(FakeGateway::default());
    let config = ForwarderConfig {
        capacity: 2,
        max_batch: 100,
        flush_interval: Duration::from_secs(60),
    };
    let (forwarder, task) = EventForwarder::spawn(gateway.clone(), config);
    let before = EVENTS_DROPPED.with_label_values(&["queue_full"]).get();
    let user: User = fixture("user");
    let accepted = (0..5)
        .filter(|_| forwarder.submit(logic::ban_add(GuildId::new(GUILD), &user, Utc::now())))
        .count();
    let dropped = EVENTS_DROPPED.with_label_values(&["queue_full"]).get() - before;
    // The flushing task may take one event off the queue while we submit.
    assert!((2..=3).contains(&accepted), "accepted {accepted}");
    assert_eq!(dropped, 5 - accepted as u64);

    task.shutdown(Duration::from_secs(5)).await;
    assert_eq!(gateway.events().len(), accepted);
}

#[tokio::test]
async fn a_failed_flush_counts_the_lost_events() {
    let gateway = Arc::new(FakeGateway::failing(GatewayError::Unavailable {
        code: "backend_unavailable".into(),
    }));
    let (forwarder, task) = EventForwarder::spawn(gateway.clone(), ForwarderConfig::default());
    let before = EVENTS_DROPPED.with_label_values(&["gateway_error"]).get();
    let member: Member = fixture("member");
    assert!(forwarder.submit(logic::member_join(&member, Utc::now())));
    assert!(forwarder.submit(logic::member_join(&member, Utc::now())));
    task.shutdown(Duration::from_secs(5)).await;
    assert_eq!(gateway.calls().len(), 1);
    assert_eq!(
        EVENTS_DROPPED.with_label_values(&["gateway_error"]).get() - before,
        2
    );
}

/// A gateway that accepts the call and never answers.
struct SilentGateway;

impl bot::clients::GatewayApi for SilentGateway {
    async fn post_events(&self, _: &[GatewayEvent]) -> Result<u64, GatewayError> {
        std::future::pending().await
    }
    async fn guild_stats(
        &self,
        _: u64,
        _: &str,
    ) -> Result<bot::clients::gateway::GuildStats, GatewayError> {
        std::future::pending().await
    }
    async fn record_moderation(
        &self,
        _: u64,
        _: &bot::clients::gateway::NewModerationAction,
    ) -> Result<bot::clients::gateway::ModerationAction, GatewayError> {
        std::future::pending().await
    }
    async fn moderation_history(
        &self,
        _: u64,
        _: u64,
        _: u32,
    ) -> Result<bot::clients::gateway::ModerationPage, GatewayError> {
        std::future::pending().await
    }
}

/// At the shutdown deadline, the batch in flight and the events still
/// queued are counted lost (`shutdown`), not silently abandoned.
#[tokio::test]
async fn events_still_queued_at_the_deadline_are_counted() {
    let config = ForwarderConfig {
        max_batch: 2,
        flush_interval: Duration::from_millis(1),
        ..ForwarderConfig::default()
    };
    let (forwarder, task) = EventForwarder::spawn(Arc::new(SilentGateway), config);
    let before = EVENTS_DROPPED.with_label_values(&["shutdown"]).get();
    let member: Member = fixture("member");
    for _ in 0..5 {
        assert!(forwarder.submit(logic::member_join(&member, Utc::now())));
    }
    task.shutdown(Duration::from_millis(100)).await;
    assert_eq!(
        EVENTS_DROPPED.with_label_values(&["shutdown"]).get() - before,
        5
    );
    assert!(
        !forwarder.submit(logic::member_join(&member, Utc::now())),
        "no event is taken after shutdown"
    );
}
