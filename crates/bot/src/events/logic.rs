//! Discord model values -> the events forwarded to the gateway. Pure
//! functions: only ids and timestamps are read, never message content.

use chrono::{DateTime, SecondsFormat, Utc};
use poise::serenity_prelude::{GuildId, Member, Message, Timestamp, User};

use crate::clients::gateway::{EventKind, GatewayEvent};

pub fn member_join(member: &Member, now: DateTime<Utc>) -> GatewayEvent {
    GatewayEvent {
        kind: EventKind::MemberJoin,
        guild_id: member.guild_id.get(),
        user_id: member.user.id.get(),
        occurred_at: member.joined_at.map_or_else(|| rfc3339(now), timestamp),
    }
}

pub fn member_leave(guild_id: GuildId, user: &User, now: DateTime<Utc>) -> GatewayEvent {
    GatewayEvent {
        kind: EventKind::MemberLeave,
        guild_id: guild_id.get(),
        user_id: user.id.get(),
        occurred_at: rfc3339(now),
    }
}

/// `None` for direct messages (no guild to count them in) and for bots'
/// messages (including this bot's replies), which are not community activity.
pub fn message_create(message: &Message) -> Option<GatewayEvent> {
    let guild_id = message.guild_id?;
    if message.author.bot {
        return None;
    }
    Some(GatewayEvent {
        kind: EventKind::MessageCreate,
        guild_id: guild_id.get(),
        user_id: message.author.id.get(),
        occurred_at: timestamp(message.timestamp),
    })
}

pub fn ban_add(guild_id: GuildId, user: &User, now: DateTime<Utc>) -> GatewayEvent {
    GatewayEvent {
        kind: EventKind::BanAdd,
        guild_id: guild_id.get(),
        user_id: user.id.get(),
        occurred_at: rfc3339(now),
    }
}

fn timestamp(timestamp: Timestamp) -> String {
    rfc3339(*timestamp)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
