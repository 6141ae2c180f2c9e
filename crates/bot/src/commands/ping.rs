//! `/ping`: the heartbeat latency of the shard that received the command.

use std::time::Duration;

use super::{Context, reply::Reply};

/// `latency` is `None` (or zero) until the shard's first heartbeat is acknowledged.
pub fn ping(shard_id: u32, latency: Option<Duration>) -> Reply {
    match latency.filter(|l| !l.is_zero()) {
        Some(latency) => Reply::text(format!(
            "Pong! Shard {shard_id} heartbeat latency: {} ms.",
            latency.as_millis()
        )),
        None => Reply::text(format!(
            "Pong! Shard {shard_id} has not measured its latency yet."
        )),
    }
}

/// Show the gateway latency of this shard
#[poise::command(slash_command, rename = "ping")]
pub async fn ping_command(ctx: Context<'_>) -> Result<(), super::Error> {
    let shard = ctx.serenity_context().shard_id.0;
    super::run(ctx, "ping", async {
        let latency = ctx.ping().await;
        ping(shard, Some(latency))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_latency_in_milliseconds() {
        let reply = ping(1, Some(Duration::from_millis(42)));
        assert_eq!(
            reply.content.as_deref(),
            Some("Pong! Shard 1 heartbeat latency: 42 ms.")
        );
    }

    #[test]
    fn zero_latency_means_not_measured() {
        let reply = ping(0, Some(Duration::ZERO));
        assert!(reply.content.unwrap_or_default().contains("not measured"));
    }
}
