//! `POST /api/events`: a batch of Discord events from the gateway. With an
//! `Idempotency-Key` header the batch is counted once however often it is
//! sent (the gateway retries a batch whose answer it did not get).

use axum::{Json, extract::State, http::HeaderMap};
use serde_json::{Value, json};

use json_api::{ApiJson, IDEMPOTENCY_KEY};

use crate::{
    app::AppState,
    error::ApiError,
    model::{EventBatch, now_ms},
    store::Ingestion,
};

/// Longer than any key the gateway makes (a UUID), short enough to index.
const IDEMPOTENCY_KEY_MAX: usize = 128;

pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<Json<Value>, ApiError> {
    let key = batch_key(&headers)?;
    batch.validate()?;
    match state
        .store
        .ingest_events(&batch.events, key, now_ms())
        .await?
    {
        Ingestion::Stored(ingested) => {
            tracing::debug!(
                context = "Events",
                events = ingested,
                "{ingested} events recorded"
            );
            Ok(Json(json!({ "ingested": ingested, "duplicate": false })))
        }
        Ingestion::Duplicate => {
            tracing::info!(
                context = "Events",
                events = batch.events.len(),
                "event batch already ingested: ignored"
            );
            Ok(Json(json!({ "ingested": 0, "duplicate": true })))
        }
    }
}

/// The optional `Idempotency-Key`: 1 to 128 visible ASCII characters.
fn batch_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::invalid(
            "Idempotency-Key",
            format!("must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"),
        )
    };
    let key = value.to_str().map_err(|_| invalid())?;
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX || !visible {
        return Err(invalid());
    }
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use json_api::IDEMPOTENCY_KEY;

    use super::batch_key;

    fn with_key(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(key).unwrap());
        headers
    }

    #[test]
    fn the_key_is_optional_and_bounded() {
        assert_eq!(batch_key(&HeaderMap::new()).unwrap(), None);
        let headers = with_key("3f0c-1");
        assert_eq!(batch_key(&headers).unwrap(), Some("3f0c-1"));
        for bad in ["", "has space", &"k".repeat(129)] {
            assert!(batch_key(&with_key(bad)).is_err(), "{bad:?}");
        }
    }
}
