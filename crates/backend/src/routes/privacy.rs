//! `POST /api/privacy/erasures`: erases a user's personal data on request
//! (see `store::erasure` for what changes). Reached through the gateway's
//! `/api/*` proxy with an API key only: the backend has no authentication
//! of its own and only the gateway may connect to it (docs/security.md).

use std::sync::LazyLock;

use axum::{Json, extract::State};
use json_api::ApiJson;
use telemetry::metrics::Counter;

use crate::{
    app::AppState,
    error::ApiError,
    model::{ErasureReport, ErasureRequest},
    pseudonym::is_pseudonym,
};

/// Erasures carried out (a repeated request for the same user counts again).
pub static ERASURES: LazyLock<Counter> = LazyLock::new(|| {
    telemetry::metrics::counter(
        "personal_data_erasures_total",
        "Erasures of a user's personal data carried out",
    )
});

pub async fn erase(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ErasureRequest>,
) -> Result<Json<ErasureReport>, ApiError> {
    if is_pseudonym(body.user_id) {
        return Err(ApiError::invalid(
            "user_id",
            "already a pseudonym: this user was erased",
        ));
    }
    let report = state.store.erase_user(body.user_id).await?;
    ERASURES.inc();
    // The pseudonym, never the raw id: this line must not keep what the
    // request erased.
    tracing::info!(
        context = "Privacy",
        pseudonym = %report.pseudonym,
        members_deleted = report.members_deleted,
        moderation_actions_as_target = report.moderation_actions_as_target,
        moderation_actions_as_moderator = report.moderation_actions_as_moderator,
        "personal data erased"
    );
    Ok(Json(report))
}
