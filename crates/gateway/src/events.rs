//! Discord events as the bot sends them: validated here (so a bad event is
//! refused to the bot, not lost in a batch) and forwarded unchanged.

use chrono::DateTime;
use serde::{Deserialize, Deserializer, Serialize, de};

use crate::error::GatewayError;

pub const EVENTS_PER_REQUEST_MAX: usize = 1000;

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

/// A snowflake id: a string of digits for a positive i64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snowflake(String);

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "a snowflake id: a string of digits between 1 and 2^63-1";
        let raw = String::deserialize(deserializer)?;
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        match raw.parse::<i64>() {
            Ok(value) if digits && value > 0 => Ok(Self(raw)),
            _ => Err(de::Error::custom(EXPECTED)),
        }
    }
}

/// An RFC 3339 date-time, forwarded as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timestamp(String);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|_| Self(raw))
            .map_err(|_| de::Error::custom("expected an RFC 3339 date-time"))
    }
}

/// Counts only: there is no field for message content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub guild_id: Snowflake,
    pub user_id: Snowflake,
    pub occurred_at: Timestamp,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<Event>,
}

impl EventBatch {
    pub fn validate(&self) -> Result<(), GatewayError> {
        if self.events.is_empty() || self.events.len() > EVENTS_PER_REQUEST_MAX {
            return Err(GatewayError::invalid(
                "events",
                format!("must hold 1 to {EVENTS_PER_REQUEST_MAX} events"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use json_api::{RequestError, parse_json};

    use super::EventBatch;

    fn field_of(body: &str) -> String {
        match parse_json::<EventBatch>(body.as_bytes()) {
            Err(RequestError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn event_errors_name_the_field_with_its_path() {
        let event = r#"{"type":"member_join","guild_id":"1","user_id":"2","occurred_at":"2026-01-01T00:00:00Z"}"#;
        assert!(parse_json::<EventBatch>(format!(r#"{{"events":[{event}]}}"#).as_bytes()).is_ok());
        assert_eq!(field_of("{}"), "events");
        let bad_type = event.replace("member_join", "typing");
        assert_eq!(
            field_of(&format!(r#"{{"events":[{event},{bad_type}]}}"#)),
            "events[1].type"
        );
        let bad_id = event.replace(r#""guild_id":"1""#, r#""guild_id":"0""#);
        assert_eq!(
            field_of(&format!(r#"{{"events":[{bad_id}]}}"#)),
            "events[0].guild_id"
        );
        let content = event.replace('}', r#","content":"hi"}"#);
        assert_eq!(
            field_of(&format!(r#"{{"events":[{content}]}}"#)),
            "events[0].content"
        );
    }
}
