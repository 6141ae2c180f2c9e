//! `/warn user reason`: records a warning (requires Moderate Members).

use super::{
    Context,
    reply::{Outcome, Reply},
};
use crate::clients::{GatewayApi, gateway::NewModerationAction};

/// Longest reason accepted; Discord's own audit-log reason limit.
pub const MAX_REASON_CHARS: usize = 512;

pub struct WarnRequest<'a> {
    pub guild_id: u64,
    pub moderator_id: u64,
    pub target_id: u64,
    pub target_is_bot: bool,
    pub reason: &'a str,
}

pub async fn warn(gateway: &impl GatewayApi, request: WarnRequest<'_>) -> Reply {
    let reason = request.reason.trim();
    if reason.is_empty() {
        return Reply::failure(Outcome::Invalid, "Please give a reason for the warning.");
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Reply::failure(
            Outcome::Invalid,
            format!("The reason is too long (at most {MAX_REASON_CHARS} characters)."),
        );
    }
    if request.target_id == request.moderator_id {
        return Reply::failure(Outcome::Invalid, "You cannot warn yourself.");
    }
    if request.target_is_bot {
        return Reply::failure(Outcome::Invalid, "Bots cannot be warned.");
    }
    let action = NewModerationAction {
        action: "warn".to_owned(),
        moderator_id: request.moderator_id,
        target_id: request.target_id,
        reason: reason.to_owned(),
    };
    match gateway.record_moderation(request.guild_id, &action).await {
        Ok(recorded) => Reply::text(format!(
            "<@{}> has been warned (case {}): {}",
            recorded.target_id, recorded.id, recorded.reason
        )),
        Err(error) => Reply::gateway_failure("warn", &error),
    }
}

/// Warn a member (recorded in the moderation log)
#[poise::command(
    slash_command,
    guild_only,
    rename = "warn",
    required_permissions = "MODERATE_MEMBERS",
    default_member_permissions = "MODERATE_MEMBERS"
)]
pub async fn warn_command(
    ctx: Context<'_>,
    #[description = "The member to warn"] user: poise::serenity_prelude::User,
    #[description = "Why (shown in the moderation log)"]
    #[max_length = 512]
    reason: String,
) -> Result<(), super::Error> {
    let gateway = ctx.data().gateway.clone();
    let moderator_id = ctx.author().id.get();
    super::run_in_guild(ctx, "warn", |guild_id| async move {
        let request = WarnRequest {
            guild_id,
            moderator_id,
            target_id: user.id.get(),
            target_is_bot: user.bot,
            reason: &reason,
        };
        warn(gateway.as_ref(), request).await
    })
    .await
}
