//! What a command answers, as plain data: the logic builds it, the poise
//! adapter turns it into a Discord message, tests assert on it.

use crate::clients::GatewayError;

/// The outcome label of `discord_commands_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The command did what was asked.
    Ok,
    /// The user asked for something invalid (bad argument, refused by the API).
    Invalid,
    /// The backend or gateway is down or unreachable.
    Unavailable,
    /// The gateway's rate limit for the bot's key.
    RateLimited,
    /// Anything unexpected.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Invalid => "invalid",
            Self::Unavailable => "unavailable",
            Self::RateLimited => "rate_limited",
            Self::Error => "error",
        }
    }

    /// The command could not do its job for a reason on our side (the span
    /// is marked as an error); a user's invalid request is not one.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Unavailable | Self::RateLimited | Self::Error)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub content: Option<String>,
    pub embeds: Vec<Embed>,
    /// Visible to the invoking user only (errors, moderation confirmations).
    pub ephemeral: bool,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Embed {
    pub title: String,
    pub description: Option<String>,
    /// (name, value, inline)
    pub fields: Vec<(String, String, bool)>,
    pub colour: u32,
}

pub const COLOUR_INFO: u32 = 0x5865F2;
pub const COLOUR_WARN: u32 = 0xFEE75C;

impl Reply {
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: Some(content.into()),
            embeds: Vec::new(),
            ephemeral: false,
            outcome: Outcome::Ok,
        }
    }

    pub fn embed(embed: Embed) -> Self {
        Self {
            content: None,
            embeds: vec![embed],
            ephemeral: false,
            outcome: Outcome::Ok,
        }
    }

    /// A private answer explaining why the command did not do its job.
    pub fn failure(outcome: Outcome, content: impl Into<String>) -> Self {
        Self {
            content: Some(content.into()),
            embeds: Vec::new(),
            ephemeral: true,
            outcome,
        }
    }

    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    /// Logs a failed gateway call (at error level when it is ours to fix)
    /// and returns the friendly answer.
    pub fn gateway_failure(command: &str, error: &GatewayError) -> Self {
        match error {
            GatewayError::Unauthorized { .. } | GatewayError::Unexpected(_) => {
                tracing::error!(context = "Command", command, error = %error, "/{command}: gateway call failed");
            }
            _ => {
                tracing::warn!(context = "Command", command, error = %error, "/{command}: gateway call failed")
            }
        }
        Self::from_gateway_error(error)
    }

    /// A friendly answer for a failed gateway call. Internals (status codes,
    /// URLs) stay in the logs; the user learns whether retrying may help.
    pub fn from_gateway_error(error: &GatewayError) -> Self {
        match error {
            GatewayError::Unavailable { .. } | GatewayError::Unreachable(_) => Self::failure(
                Outcome::Unavailable,
                "The moderation service is unavailable right now. Please try again in a minute.",
            ),
            GatewayError::RateLimited { retry_after } => {
                let wait = retry_after.map_or_else(
                    || "a few seconds".to_owned(),
                    |d| format!("{} s", d.as_secs().max(1)),
                );
                Self::failure(
                    Outcome::RateLimited,
                    format!("Too many requests right now. Please try again in {wait}."),
                )
            }
            GatewayError::Rejected { message, field, .. } => Self::failure(
                Outcome::Invalid,
                match field {
                    Some(field) => format!("That request was refused ({field}): {message}"),
                    None => format!("That request was refused: {message}"),
                },
            ),
            GatewayError::Unauthorized { .. } | GatewayError::Unexpected(_) => Self::failure(
                Outcome::Error,
                "Something went wrong on our side. The team has been notified in the logs.",
            ),
        }
    }
}
