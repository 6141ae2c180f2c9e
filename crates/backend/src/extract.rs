//! Extractors whose rejections are [`ApiError`]s, so axum's plain-text
//! rejections never reach a client. JSON bodies: [`json_api::ApiJson`].

use std::collections::HashMap;

use axum::{
    extract::{FromRequestParts, Path, Query},
    http::request::Parts,
};

use crate::{error::ApiError, snowflake::Snowflake};

/// The `{id}` path segment as a snowflake.
pub struct GuildId(pub Snowflake);

impl<S: Send + Sync> FromRequestParts<S> for GuildId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid("id", rejection.body_text()))?;
        raw.parse()
            .map(Self)
            .map_err(|message: &str| ApiError::invalid("id", message))
    }
}

/// The query string as raw pairs; each handler parses the parameters it
/// knows and names the one that is wrong.
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| Self(params))
            .map_err(|rejection| ApiError::invalid("query", rejection.body_text()))
    }
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

impl QueryParams {
    /// A present, non-empty parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn snowflake(&self, name: &str) -> Result<Option<Snowflake>, ApiError> {
        self.get(name)
            .map(|raw| {
                raw.parse()
                    .map_err(|message: &str| ApiError::invalid(name, message))
            })
            .transpose()
    }

    /// `limit`: 1..=100, default 50.
    pub fn limit(&self) -> Result<i64, ApiError> {
        let Some(raw) = self.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        match raw.parse::<i64>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            _ => Err(ApiError::invalid(
                "limit",
                format!("must be an integer from 1 to {MAX_LIMIT}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use json_api::{RequestError, parse_json};

    use crate::model::EventBatch;

    fn field_of(body: &str) -> String {
        match parse_json::<EventBatch>(body.as_bytes()) {
            Err(RequestError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn event_errors_name_the_field_with_its_path() {
        assert_eq!(field_of(r#"{"evnts": []}"#), "evnts");
        assert_eq!(field_of(r#"{}"#), "events");
        let event = r#"{"type":"member_join","guild_id":"1","user_id":"2","occurred_at":"2026-01-01T00:00:00Z"}"#;
        assert!(parse_json::<EventBatch>(format!(r#"{{"events":[{event}]}}"#).as_bytes()).is_ok());
        let wrong_type = event.replace("member_join", "typing");
        assert_eq!(
            field_of(&format!(r#"{{"events":[{event},{wrong_type}]}}"#)),
            "events[1].type"
        );
        let no_user = r#"{"type":"ban_add","guild_id":"1","occurred_at":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(
            field_of(&format!(r#"{{"events":[{no_user}]}}"#)),
            "events[0].user_id"
        );
        let bad_time = event.replace("2026-01-01T00:00:00Z", "yesterday");
        assert_eq!(
            field_of(&format!(r#"{{"events":[{bad_time}]}}"#)),
            "events[0].occurred_at"
        );
    }
}
