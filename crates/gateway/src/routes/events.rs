//! `POST /events`: a batch of Discord events from the bot, validated and
//! queued for the backend; answered 202 before it is forwarded.

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use json_api::ApiJson;

use crate::{app::AppState, error::GatewayError, events::EventBatch};

pub async fn accept(
    State(state): State<AppState>,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    batch.validate()?;
    let accepted = state.events.try_enqueue(batch.events)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))))
}
