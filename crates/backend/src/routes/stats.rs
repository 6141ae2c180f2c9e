//! `GET /api/guilds/{id}/stats?window=24h`: counts over a time window.

use axum::{Json, extract::State};

use crate::{
    app::AppState,
    error::ApiError,
    extract::{GuildId, QueryParams},
    model::{Stats, now_ms},
};

pub const DEFAULT_WINDOW: &str = "24h";
const MIN_WINDOW_SECONDS: i64 = 3600;
const MAX_WINDOW_SECONDS: i64 = 30 * 86_400;

pub async fn get(
    State(state): State<AppState>,
    GuildId(guild): GuildId,
    query: QueryParams,
) -> Result<Json<Stats>, ApiError> {
    let window_seconds = parse_window(query.get("window").unwrap_or(DEFAULT_WINDOW))
        .map_err(|message| ApiError::invalid("window", message))?;
    let since = now_ms() - window_seconds * 1000;
    let stats = state
        .store
        .guild_stats(guild, since, window_seconds)
        .await?;
    Ok(Json(stats))
}

/// `90m`, `24h`, `7d` → seconds, within 1h..=30d.
pub fn parse_window(raw: &str) -> Result<i64, String> {
    let expected = || "expected a duration like 90m, 24h or 7d, from 1h to 30d".to_owned();
    let unit = raw.chars().last().ok_or_else(expected)?;
    let number = &raw[..raw.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    let number: i64 = number.parse().map_err(|_| expected())?;
    let unit_seconds = match unit {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(expected()),
    };
    let seconds = number.checked_mul(unit_seconds).ok_or_else(expected)?;
    if (MIN_WINDOW_SECONDS..=MAX_WINDOW_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(expected())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_window;

    #[test]
    fn windows_parse_within_bounds() {
        assert_eq!(parse_window("24h"), Ok(86_400));
        assert_eq!(parse_window("60m"), Ok(3600));
        assert_eq!(parse_window("30d"), Ok(2_592_000));
        for bad in [
            "",
            "h",
            "59m",
            "31d",
            "1w",
            "-1h",
            "1.5h",
            "99999999999999999999d",
            "é",
        ] {
            assert!(parse_window(bad).is_err(), "{bad:?} accepted");
        }
    }
}
