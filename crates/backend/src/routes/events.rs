//! `POST /api/events`: a batch of Discord events from the gateway.

use axum::{Json, extract::State};
use serde_json::{Value, json};

use json_api::ApiJson;

use crate::{app::AppState, error::ApiError, model::EventBatch};

pub async fn ingest(
    State(state): State<AppState>,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<Json<Value>, ApiError> {
    batch.validate()?;
    let ingested = state.store.ingest_events(&batch.events).await?;
    tracing::debug!(
        context = "Events",
        events = ingested,
        "{ingested} events recorded"
    );
    Ok(Json(json!({ "ingested": ingested })))
}
