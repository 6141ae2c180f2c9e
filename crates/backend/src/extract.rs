//! Extractors whose rejections are [`ApiError`]s, so axum's plain-text
//! rejections never reach a client.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Query, Request},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::{error::ApiError, snowflake::Snowflake};

/// A JSON body deserialized into `T`; errors name the offending field with
/// its path (`events[3].guild_id`).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedJson(rejection.body_text())
                }
            })?;
        parse_json(&body).map(Self)
    }
}

fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// Deserializes `body`, mapping serde's error to the field it is about.
/// Every body of this API is a JSON object (serde would also accept an
/// array for a struct, with confusing errors).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        let syntax_ok = serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
        return Err(if syntax_ok {
            ApiError::invalid("body", "expected a JSON object")
        } else {
            ApiError::MalformedJson("expected a JSON object".to_owned())
        });
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::MalformedJson(inner.to_string());
        }
        let path = error.path().to_string();
        let message = strip_position(&inner.to_string());
        // serde reports missing/unknown fields at the parent's path: append
        // the field's own name so the client knows which one.
        let named = quoted_field(&message);
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name.to_owned(),
            (".", None) => "body".to_owned(),
            (parent, Some(name)) if message.starts_with("missing field") => {
                format!("{parent}.{name}")
            }
            (path, _) => path.to_owned(),
        };
        ApiError::invalid(field, message)
    })
}

/// `missing field `name`` → `name`.
fn quoted_field(message: &str) -> Option<&str> {
    let is_field_error =
        message.starts_with("missing field") || message.starts_with("unknown field");
    if !is_field_error {
        return None;
    }
    message.split('`').nth(1)
}

/// serde_json appends " at line 1 column 42": noise for an API client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

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
    use super::*;
    use crate::model::EventBatch;

    fn field_of(body: &str) -> String {
        match parse_json::<EventBatch>(body.as_bytes()) {
            Err(ApiError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_with_its_path() {
        assert_eq!(field_of(r#"{"evnts": []}"#), "evnts");
        assert_eq!(field_of(r#"{}"#), "events");
        assert_eq!(field_of(r#"{"events": 3}"#), "events");
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

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert!(matches!(
            parse_json::<EventBatch>(b"{\"events\": ["),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
