//! A JSON body extractor whose rejections are [`GatewayError`]s naming the
//! field (`events[3].guild_id`), so axum's plain-text rejections never leak.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use serde::de::DeserializeOwned;

use crate::error::GatewayError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = GatewayError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(GatewayError::UnsupportedMediaType);
        }
        let body = read_body(request, state).await?;
        parse_json(&body).map(Self)
    }
}

/// The whole body, within the route's `DefaultBodyLimit` (413 past it).
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, GatewayError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                GatewayError::PayloadTooLarge
            } else {
                GatewayError::MalformedJson(rejection.body_text())
            }
        })
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(GatewayError::invalid("body", "expected a JSON object"));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return GatewayError::MalformedJson(inner.to_string());
        }
        let path = error.path().to_string();
        let message = inner.to_string();
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |index| &message[..index])
            .to_owned();
        let named = (message.starts_with("missing field") || message.starts_with("unknown field"))
            .then(|| message.split('`').nth(1))
            .flatten();
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name.to_owned(),
            (".", None) => "body".to_owned(),
            (parent, Some(name)) if message.starts_with("missing field") => {
                format!("{parent}.{name}")
            }
            (path, _) => path.to_owned(),
        };
        GatewayError::invalid(field, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBatch;

    fn field_of(body: &str) -> String {
        match parse_json::<EventBatch>(body.as_bytes()) {
            Err(GatewayError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_with_its_path() {
        let event = r#"{"type":"member_join","guild_id":"1","user_id":"2","occurred_at":"2026-01-01T00:00:00Z"}"#;
        assert!(parse_json::<EventBatch>(format!(r#"{{"events":[{event}]}}"#).as_bytes()).is_ok());
        assert_eq!(field_of("{}"), "events");
        assert_eq!(field_of("[]"), "body");
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
