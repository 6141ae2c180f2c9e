//! Constructors for the spans the services open by hand, so names and
//! attributes follow one convention everywhere. Enter them (or
//! `.instrument(span)`) around the work; calls made inside are children.

use tracing::{Span, field::Empty};

/// A database call (OpenTelemetry database conventions): name
/// `{operation} {table}`, kind client. `system` is `sqlite` or
/// `postgresql`; `operation` e.g. `SELECT`, `INSERT`. The system is also
/// set under its pre-1.26 name `db.system`, which Tempo's and Grafana's
/// stock queries still use.
pub fn db(system: &'static str, operation: &'static str, table: &'static str) -> Span {
    tracing::info_span!(
        "db",
        otel.name = %format_args!("{operation} {table}"),
        otel.kind = "client",
        otel.status_code = Empty,
        db.system.name = system,
        db.system = system,
        db.operation.name = operation,
        db.collection.name = table,
        error.type = Empty,
    )
}

/// One Discord gateway event handled by the bot (`discord.event`, e.g.
/// `GUILD_MEMBER_ADD`): the root of the trace for that event.
pub fn discord_event(event: &str, guild_id: Option<u64>) -> Span {
    tracing::info_span!(
        "discord event",
        otel.name = %format_args!("discord event {event}"),
        otel.kind = "consumer",
        discord.event = event,
        discord.guild.id = guild_id,
    )
}

/// One bot command (`discord.command`, e.g. `warn`): the parent of the
/// calls the command makes to the gateway.
pub fn discord_command(command: &str, guild_id: Option<u64>) -> Span {
    tracing::info_span!(
        "discord command",
        otel.name = %format_args!("discord command {command}"),
        otel.kind = "server",
        otel.status_code = Empty,
        discord.command = command,
        discord.guild.id = guild_id,
        // How it ended, for the bot's own vocabulary (`ok`, `invalid`, ...).
        outcome = Empty,
        error.type = Empty,
    )
}

/// Marks `span` as failed with `error_type` (a short, bounded category).
pub fn record_error(span: &Span, error_type: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", error_type);
}
