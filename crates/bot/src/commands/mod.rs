//! Slash commands. Each file holds a plain `async fn` with the logic (tested
//! without Discord) and a thin poise adapter that calls it through [`run`].

pub mod modlog;
pub mod ping;
pub mod reply;
pub mod stats;
pub mod warn;

use std::{
    future::Future,
    sync::{Arc, LazyLock},
};

use poise::{CreateReply, serenity_prelude as serenity};
use telemetry::metrics::{CounterVec, HistogramVec};
use tracing::Instrument;

use crate::clients::GatewayClient;
pub use reply::{Embed, Outcome, Reply};

/// State shared by every command.
pub struct Data {
    pub gateway: Arc<GatewayClient>,
}

pub type Error = serenity::Error;
pub type Context<'a> = poise::Context<'a, Data, Error>;

/// `discord_commands_total{command,outcome}`.
pub static COMMANDS_TOTAL: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "discord_commands_total",
        "Slash commands handled, by command and outcome (ok, invalid, forbidden, unavailable, rate_limited, error)",
        &["command", "outcome"],
    )
});

/// `discord_command_duration_seconds{command,outcome}`: from the command's
/// start to its reply being ready, with the command's trace as exemplar
/// when it is sampled.
pub static COMMAND_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    telemetry::metrics::histogram_vec(
        "discord_command_duration_seconds",
        "Time to handle a slash command, by command and outcome",
        &["command", "outcome"],
        telemetry::metrics::DURATION_BUCKETS,
    )
});

/// Every command the bot registers with Discord.
pub fn all() -> Vec<poise::Command<Data, Error>> {
    vec![
        ping::ping_command(),
        stats::stats_command(),
        warn::warn_command(),
        modlog::modlog_command(),
    ]
}

/// The commands, their error handler, and replies that ping nobody
/// (poise's default lets a reply ping users).
pub fn framework_options() -> poise::FrameworkOptions<Data, Error> {
    poise::FrameworkOptions {
        commands: all(),
        on_error: |error| Box::pin(on_error(error)),
        allowed_mentions: Some(no_mentions()),
        ..Default::default()
    }
}

/// Counts the commands poise refused before they ran (missing permission,
/// used outside a server, failed to reply...), then answers as poise does.
pub async fn on_error(error: poise::FrameworkError<'_, Data, Error>) {
    if let Some(ctx) = error.ctx() {
        let outcome = match &error {
            poise::FrameworkError::MissingUserPermissions { .. } => "forbidden",
            poise::FrameworkError::GuildOnly { .. } => Outcome::Invalid.as_str(),
            _ => Outcome::Error.as_str(),
        };
        COMMANDS_TOTAL
            .with_label_values(&[&*ctx.command().name, outcome])
            .inc();
    }
    if let Err(error) = poise::builtins::on_error(error).await {
        tracing::error!(context = "Discord", error = %error, "cannot report a command error");
    }
}

/// Who ran which command where: what the completion line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation {
    pub command: &'static str,
    /// None in a direct message.
    pub guild_id: Option<u64>,
    /// The Discord user who ran it (a pseudonymous id, never a name).
    pub user_id: u64,
}

/// Runs a command's logic inside its span, counts the outcome and sends the reply.
pub async fn run(
    ctx: Context<'_>,
    command: &'static str,
    logic: impl Future<Output = Reply>,
) -> Result<(), Error> {
    let invocation = Invocation {
        command,
        guild_id: ctx.guild_id().map(|id| id.get()),
        user_id: ctx.author().id.get(),
    };
    let reply = instrumented(invocation, logic).await;
    ctx.send(to_create_reply(reply)).await.map(|_| ())
}

/// The part of [`run`] that needs no Discord: the `discord.command` span
/// (every gateway call of the logic happens inside it), the outcome metric
/// and the completion log.
pub async fn instrumented(invocation: Invocation, logic: impl Future<Output = Reply>) -> Reply {
    let Invocation {
        command,
        guild_id,
        user_id,
    } = invocation;
    let span = telemetry::trace::spans::discord_command(command, guild_id);
    async {
        let start = std::time::Instant::now();
        let reply = logic.await;
        let span = tracing::Span::current();
        span.record("outcome", reply.outcome.as_str());
        if reply.outcome.is_failure() {
            telemetry::trace::spans::record_error(&span, reply.outcome.as_str());
        }
        COMMANDS_TOTAL
            .with_label_values(&[command, reply.outcome.as_str()])
            .inc();
        // Inside the command's span: a sampled command is its bucket's exemplar.
        COMMAND_DURATION
            .with_label_values(&[command, reply.outcome.as_str()])
            .observe(start.elapsed().as_secs_f64());
        // Ids as strings: snowflakes exceed what a JSON number holds exactly.
        tracing::info!(
            context = "Command",
            command,
            guild_id = guild_id.map(|id| id.to_string()).as_deref(),
            user_id = %user_id,
            outcome = reply.outcome.as_str(),
            "command /{command} handled: {}",
            reply.outcome.as_str()
        );
        reply
    }
    .instrument(span)
    .await
}

/// [`run`] for guild-only commands: poise already refuses them in DMs, this
/// keeps the logic free of that `Option`.
pub async fn run_in_guild<F, Fut>(
    ctx: Context<'_>,
    command: &'static str,
    logic: F,
) -> Result<(), Error>
where
    F: FnOnce(u64) -> Fut,
    Fut: Future<Output = Reply>,
{
    match ctx.guild_id() {
        Some(guild_id) => run(ctx, command, logic(guild_id.get())).await,
        None => {
            let reply = Reply::failure(Outcome::Invalid, "This command only works in a server.");
            run(ctx, command, async { reply }).await
        }
    }
}

/// What a reply may ping: nothing. Replies echo what users typed (a `/warn`
/// reason), which must never ping `@everyone`, a role or a user. Also the
/// framework's default, for the replies poise sends itself (errors).
pub fn no_mentions() -> serenity::CreateAllowedMentions {
    serenity::CreateAllowedMentions::new()
}

/// The Discord message of `reply`.
pub fn to_create_reply(reply: Reply) -> CreateReply {
    let mut create = CreateReply::default()
        .ephemeral(reply.ephemeral)
        .allowed_mentions(no_mentions());
    if let Some(content) = reply.content {
        create = create.content(content);
    }
    for embed in reply.embeds {
        let mut builder = serenity::CreateEmbed::new()
            .title(embed.title)
            .colour(embed.colour);
        if let Some(description) = embed.description {
            builder = builder.description(description);
        }
        for (name, value, inline) in embed.fields {
            builder = builder.field(name, value, inline);
        }
        create = create.embed(builder);
    }
    create
}
