//! Discord gateway events: each one is counted, converted by [`logic`] inside
//! its own span and queued on the [`forwarder`].

pub mod forwarder;
pub mod logic;

use std::sync::LazyLock;

use chrono::Utc;
use poise::serenity_prelude::{
    self as serenity, Context, EventHandler, GuildId, Member, Message, Ready,
    ShardStageUpdateEvent, User,
};
use telemetry::metrics::CounterVec;

use crate::clients::gateway::GatewayEvent;
pub use forwarder::{EventForwarder, EventSink, ForwarderConfig, ForwarderTask};

/// `discord_events_total{event}`: events received from Discord.
pub static EVENTS_TOTAL: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "discord_events_total",
        "Discord gateway events received, by event (member_join, member_leave, message_create, ban_add)",
        &["event"],
    )
});

/// The intents the bot asks for. `GUILD_MEMBERS` is privileged (enable
/// "Server Members Intent" in the developer portal). `MESSAGE_CONTENT` is
/// deliberately absent: messages are counted, their content never received.
pub fn intents() -> serenity::GatewayIntents {
    serenity::GatewayIntents::GUILDS
        | serenity::GatewayIntents::GUILD_MEMBERS
        | serenity::GatewayIntents::GUILD_MODERATION
        | serenity::GatewayIntents::GUILD_MESSAGES
}

/// Runs one event's logic in its span and queues the result.
pub fn handle(
    sink: &impl EventSink,
    event: &'static str,
    guild_id: Option<GuildId>,
    logic: impl FnOnce() -> Option<GatewayEvent>,
) {
    let span = telemetry::trace::spans::discord_event(event, guild_id.map(|id| id.get()));
    let _entered = span.enter();
    EVENTS_TOTAL.with_label_values(&[event]).inc();
    if let Some(forwarded) = logic()
        && !sink.submit(forwarded)
    {
        tracing::debug!("event queue full: event dropped");
    }
}

/// serenity's event handler: the plain functions above, plus shard stage logs.
pub struct Handler<S> {
    pub sink: S,
}

#[serenity::async_trait]
impl<S: EventSink + 'static> EventHandler for Handler<S> {
    async fn guild_member_addition(&self, _ctx: Context, member: Member) {
        handle(&self.sink, "member_join", Some(member.guild_id), || {
            Some(logic::member_join(&member, Utc::now()))
        });
    }

    async fn guild_member_removal(
        &self,
        _ctx: Context,
        guild_id: GuildId,
        user: User,
        _member: Option<Member>,
    ) {
        handle(&self.sink, "member_leave", Some(guild_id), || {
            Some(logic::member_leave(guild_id, &user, Utc::now()))
        });
    }

    async fn message(&self, _ctx: Context, message: Message) {
        handle(&self.sink, "message_create", message.guild_id, || {
            logic::message_create(&message)
        });
    }

    async fn guild_ban_addition(&self, _ctx: Context, guild_id: GuildId, user: User) {
        handle(&self.sink, "ban_add", Some(guild_id), || {
            Some(logic::ban_add(guild_id, &user, Utc::now()))
        });
    }

    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(
            context = "Discord",
            shard = ctx.shard_id.0,
            guilds = ready.guilds.len(),
            user = %ready.user.name,
            "shard {} ready",
            ctx.shard_id.0
        );
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        tracing::info!(
            context = "Discord",
            shard = event.shard_id.0,
            from = %event.old,
            to = %event.new,
            "shard {} {} -> {}",
            event.shard_id.0,
            event.old,
            event.new
        );
    }
}
