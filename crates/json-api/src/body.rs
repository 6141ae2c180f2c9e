//! JSON request bodies whose errors name the offending field.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, StatusCode, header},
};
use serde::de::DeserializeOwned;

use crate::RequestError;

/// A JSON body deserialized into `T`; errors name the offending field with
/// its path (`events[3].guild_id`).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = RequestError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(RequestError::UnsupportedMediaType);
        }
        let body = read_body(request, state).await?;
        parse_json(&body).map(Self)
    }
}

/// `Content-Type: application/json` or `application/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
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

/// The whole body, within the route's `DefaultBodyLimit` (413 past it).
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, RequestError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                RequestError::PayloadTooLarge
            } else {
                RequestError::MalformedJson(rejection.body_text())
            }
        })
}

/// Deserializes `body`, mapping serde's error to the field it is about.
/// Every body of these APIs is a JSON object (serde would also accept an
/// array for a struct, with confusing errors).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, RequestError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        let syntax_ok = serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
        return Err(if syntax_ok {
            RequestError::invalid("body", "expected a JSON object")
        } else {
            RequestError::MalformedJson("expected a JSON object".to_owned())
        });
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return RequestError::MalformedJson(inner.to_string());
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
            // An empty key (`{"": 1}`) adds an empty segment: name its parent.
            (path, _) => match path.trim_end_matches('.') {
                "" => "body".to_owned(),
                parent => parent.to_owned(),
            },
        };
        RequestError::invalid(field, message)
    })
}

/// `missing field `name`` → `name`.
fn quoted_field(message: &str) -> Option<&str> {
    let is_field_error =
        message.starts_with("missing field") || message.starts_with("unknown field");
    if !is_field_error {
        return None;
    }
    message.split('`').nth(1).filter(|name| !name.is_empty())
}

/// serde_json appends " at line 1 column 42": noise for an API client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Batch {
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        id: u64,
        name: String,
    }

    fn field_of(body: &str) -> String {
        match parse_json::<Batch>(body.as_bytes()) {
            Err(RequestError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_with_its_path() {
        let item = r#"{"id":1,"name":"a"}"#;
        assert!(parse_json::<Batch>(format!(r#"{{"items":[{item}]}}"#).as_bytes()).is_ok());
        assert_eq!(field_of("{}"), "items");
        assert_eq!(field_of(r#"{"itms": []}"#), "itms");
        assert_eq!(field_of(r#"{"items": 3}"#), "items");
        assert_eq!(field_of("[]"), "body");
        // Found by fuzzing (`api_bodies`): an empty key was named as "".
        assert_eq!(field_of(r#"{"": 1}"#), "body");
        assert_eq!(
            field_of(r#"{"items":[{"id":1,"name":"a","":0}]}"#),
            "items[0]"
        );
        assert_eq!(
            field_of(&format!(r#"{{"items":[{item},{{"id":"x","name":"b"}}]}}"#)),
            "items[1].id"
        );
        assert_eq!(field_of(r#"{"items":[{"id":1}]}"#), "items[0].name");
        assert_eq!(
            field_of(r#"{"items":[{"id":1,"name":"a","extra":true}]}"#),
            "items[0].extra"
        );
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for body in ["{\"items\": [", "[1,", "nope"] {
            assert!(
                matches!(
                    parse_json::<Batch>(body.as_bytes()),
                    Err(RequestError::MalformedJson(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn json_content_types() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            headers
        };
        assert!(is_json(&with("application/json")));
        assert!(is_json(&with("Application/JSON; charset=utf-8")));
        assert!(is_json(&with("application/problem+json")));
        assert!(!is_json(&with("text/plain")));
        assert!(!is_json(&HeaderMap::new()));
    }
}
