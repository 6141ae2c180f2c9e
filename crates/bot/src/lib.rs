//! The Discord bot: slash commands and gateway events forwarded to the
//! gateway service, plus a small HTTP server for probes and metrics.
//!
//! Command and event logic are plain functions over [`clients::GatewayApi`]
//! (tested without Discord); `commands`' poise adapters and `events::Handler`
//! only translate to and from Discord.

pub mod app;
pub mod clients;
pub mod commands;
pub mod config;
pub mod discord;
pub mod events;

/// Who the bot is, for telemetry.
pub const SERVICE: telemetry::ServiceInfo = telemetry::ServiceInfo {
    name: "bot",
    version: env!("CARGO_PKG_VERSION"),
};
