//! The JSON request bodies of the backend and the gateway, through the
//! extractor they share (`json_api::parse_json`). Any body is parsed or
//! refused with a 400 that names a field (or says the JSON is malformed);
//! a parsed body's validation refuses with a 4xx too, never a panic or a
//! 5xx. The first byte picks the body type.
#![no_main]

use axum::response::IntoResponse as _;
use json_api::{RequestError, parse_json};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

/// The parsed body, or `None` after checking the refusal.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match parse_json::<T>(body) {
        Ok(value) => Some(value),
        Err(error) => {
            match &error {
                RequestError::InvalidField { field, message } => {
                    assert!(!field.is_empty() && !message.is_empty(), "{error:?}");
                }
                RequestError::MalformedJson(_) => {}
                other => panic!("unexpected refusal {other:?}"),
            }
            assert_eq!(error.into_response().status(), 400);
            None
        }
    }
}

fn refused_as_client_error(status: http::StatusCode) {
    assert!(status.is_client_error(), "{status}");
}

fuzz_target!(|data: &[u8]| {
    let Some((kind, body)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => {
            if let Some(guild) = parse::<backend::model::PutGuild>(body)
                && let Err(error) = guild.validate()
            {
                refused_as_client_error(error.into_response().status());
            }
        }
        1 => {
            if let Some(action) = parse::<backend::model::NewModerationAction>(body)
                && let Err(error) = action.validate()
            {
                refused_as_client_error(error.into_response().status());
            }
        }
        2 => {
            if let Some(batch) = parse::<backend::model::EventBatch>(body)
                && let Err(error) = batch.validate()
            {
                refused_as_client_error(error.into_response().status());
            }
        }
        _ => {
            if let Some(batch) = parse::<gateway::events::EventBatch>(body)
                && let Err(error) = batch.validate()
            {
                refused_as_client_error(error.into_response().status());
            }
        }
    }
});
