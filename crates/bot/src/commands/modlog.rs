//! `/modlog user`: a member's most recent moderation actions.

use super::{
    Context,
    reply::{COLOUR_WARN, Embed, Reply},
};
use crate::clients::{GatewayApi, gateway::ModerationPage};

/// How many actions one answer lists (an embed holds at most 25 fields).
pub const PAGE_SIZE: u32 = 10;

pub async fn modlog(gateway: &impl GatewayApi, guild_id: u64, target_id: u64) -> Reply {
    match gateway
        .moderation_history(guild_id, target_id, PAGE_SIZE)
        .await
    {
        Ok(page) if page.items.is_empty() => {
            Reply::text(format!("<@{target_id}> has no moderation history.")).ephemeral()
        }
        Ok(page) => Reply::embed(history_embed(target_id, &page)).ephemeral(),
        Err(error) => Reply::gateway_failure("modlog", &error),
    }
}

fn history_embed(target_id: u64, page: &ModerationPage) -> Embed {
    let fields = page
        .items
        .iter()
        .map(|item| {
            (
                format!("#{} · {} · {}", item.id, item.action, item.created_at),
                format!("by <@{}>: {}", item.moderator_id, item.reason),
                false,
            )
        })
        .collect();
    Embed {
        title: "Moderation history".to_owned(),
        description: Some(match page.next_cursor {
            Some(_) => format!("<@{target_id}>, latest {} actions", page.items.len()),
            None => format!("<@{target_id}>, {} actions", page.items.len()),
        }),
        fields,
        colour: COLOUR_WARN,
    }
}

/// Show a member's moderation history
#[poise::command(
    slash_command,
    guild_only,
    rename = "modlog",
    required_permissions = "MODERATE_MEMBERS",
    default_member_permissions = "MODERATE_MEMBERS"
)]
pub async fn modlog_command(
    ctx: Context<'_>,
    #[description = "The member to look up"] user: poise::serenity_prelude::User,
) -> Result<(), super::Error> {
    let gateway = ctx.data().gateway.clone();
    super::run_in_guild(ctx, "modlog", |guild_id| async move {
        modlog(gateway.as_ref(), guild_id, user.id.get()).await
    })
    .await
}
