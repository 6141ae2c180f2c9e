//! `/stats`: the guild's activity over the last 24 hours.

use super::{
    Context,
    reply::{COLOUR_INFO, Embed, Reply},
};
use crate::clients::{GatewayApi, gateway::GuildStats};

pub const WINDOW: &str = "24h";

pub async fn stats(gateway: &impl GatewayApi, guild_id: u64) -> Reply {
    match gateway.guild_stats(guild_id, WINDOW).await {
        Ok(stats) => Reply::embed(stats_embed(&stats)),
        Err(error) => Reply::gateway_failure("stats", &error),
    }
}

fn stats_embed(stats: &GuildStats) -> Embed {
    let hours = stats.window_seconds / 3600;
    let a = &stats.actions;
    Embed {
        title: format!("Server activity, last {hours} h"),
        description: None,
        fields: vec![
            (
                "Members joined".into(),
                stats.members_joined.to_string(),
                true,
            ),
            ("Members left".into(), stats.members_left.to_string(), true),
            ("Messages".into(), stats.messages.to_string(), true),
            (
                "Moderation".into(),
                format!(
                    "{} warn · {} timeout · {} kick · {} ban",
                    a.warn, a.timeout, a.kick, a.ban
                ),
                false,
            ),
        ],
        colour: COLOUR_INFO,
    }
}

/// Show this server's activity over the last 24 hours
#[poise::command(slash_command, guild_only, rename = "stats")]
pub async fn stats_command(ctx: Context<'_>) -> Result<(), super::Error> {
    let gateway = ctx.data().gateway.clone();
    super::run_in_guild(ctx, "stats", |guild_id| async move {
        stats(gateway.as_ref(), guild_id).await
    })
    .await
}
