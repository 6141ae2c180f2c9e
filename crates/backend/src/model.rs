//! The API's resources: request bodies (strict: unknown fields are errors)
//! and responses. Times are RFC 3339 in JSON and Unix milliseconds in the
//! database.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{error::ApiError, snowflake::Snowflake};

pub const GUILD_NAME_MAX_CHARS: usize = 100;
pub const REASON_MAX_CHARS: usize = 512;
pub const EVENTS_PER_BATCH_MAX: usize = 1000;

/// RFC 3339 in UTC with milliseconds, from Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn serialize_time<S: serde::Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*ms))
}

fn serialize_optional_time<S: serde::Serializer>(
    ms: &Option<i64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => serialize_time(ms, serializer),
        None => serializer.serialize_none(),
    }
}

/// Checks a free-text field's length in characters (not bytes).
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let chars = value.trim().chars().count();
    if chars == 0 {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Guild {
    pub id: Snowflake,
    pub name: String,
    pub settings: Map<String, Value>,
    #[serde(serialize_with = "serialize_time")]
    pub created_at: i64,
    #[serde(serialize_with = "serialize_time")]
    pub updated_at: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutGuild {
    pub name: String,
    /// Absent: unchanged on update, `{}` on creation.
    #[serde(default)]
    pub settings: Option<Map<String, Value>>,
}

impl PutGuild {
    pub fn validate(&self) -> Result<(), ApiError> {
        check_text("name", &self.name, GUILD_NAME_MAX_CHARS)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Member {
    pub user_id: Snowflake,
    #[serde(serialize_with = "serialize_time")]
    pub first_seen: i64,
    #[serde(serialize_with = "serialize_time")]
    pub last_seen: i64,
    #[serde(
        serialize_with = "serialize_optional_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub left_at: Option<i64>,
}

/// One page of a listing; `next_cursor` is `null` on the last page.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Warn,
    Timeout,
    Kick,
    Ban,
}

impl Action {
    pub const ALL: [Self; 4] = [Self::Warn, Self::Timeout, Self::Kick, Self::Ban];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Timeout => "timeout",
            Self::Kick => "kick",
            Self::Ban => "ban",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == raw)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewModerationAction {
    pub action: Action,
    pub moderator_id: Snowflake,
    pub target_id: Snowflake,
    pub reason: String,
}

impl NewModerationAction {
    pub fn validate(&self) -> Result<(), ApiError> {
        check_text("reason", &self.reason, REASON_MAX_CHARS)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModerationAction {
    pub id: Snowflake,
    pub guild_id: Snowflake,
    pub action: Action,
    pub moderator_id: Snowflake,
    pub target_id: Snowflake,
    pub reason: String,
    #[serde(serialize_with = "serialize_time")]
    pub created_at: i64,
}

/// Body of `POST /api/privacy/erasures`. The id travels in the body, not
/// the path: a path is recorded in the request's span and access log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    pub user_id: Snowflake,
}

/// What an erasure changed; `pseudonym` is the id the user's moderation
/// entries carry from now on (and the only form of the id the log shows).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErasureReport {
    pub pseudonym: Snowflake,
    pub members_deleted: u64,
    pub moderation_actions_as_target: u64,
    pub moderation_actions_as_moderator: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    MemberJoin,
    MemberLeave,
    MessageCreate,
    BanAdd,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MemberJoin => "member_join",
            Self::MemberLeave => "member_leave",
            Self::MessageCreate => "message_create",
            Self::BanAdd => "ban_add",
        }
    }
}

/// A Discord event, reduced to what is counted: never any message content.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub guild_id: Snowflake,
    pub user_id: Snowflake,
    /// Unix milliseconds, from RFC 3339 in JSON.
    #[serde(deserialize_with = "deserialize_rfc3339")]
    pub occurred_at: i64,
}

fn deserialize_rfc3339<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let raw = String::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(&raw)
        .map(|time| time.timestamp_millis())
        .map_err(|_| serde::de::Error::custom("expected an RFC 3339 date-time"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<Event>,
}

impl EventBatch {
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.events.is_empty() || self.events.len() > EVENTS_PER_BATCH_MAX {
            return Err(ApiError::invalid(
                "events",
                format!("must hold 1 to {EVENTS_PER_BATCH_MAX} events"),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ActionCounts {
    pub warn: i64,
    pub timeout: i64,
    pub kick: i64,
    pub ban: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub guild_id: Snowflake,
    pub window_seconds: i64,
    pub members_joined: i64,
    pub members_left: i64,
    pub messages: i64,
    pub actions: ActionCounts,
}
