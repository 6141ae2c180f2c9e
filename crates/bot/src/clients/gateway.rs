//! The bot's only outbound dependency: the gateway (events in, backend API
//! proxied under `/api`).
//!
//! [`GatewayApi`] is the seam the command and event logic depend on, so that
//! logic is tested with an in-memory implementation. [`GatewayClient`] is the
//! real one; every request it makes goes through [`GatewayClient::send`], the
//! single place where headers (authentication, trace context) are added.

use std::{future::Future, time::Duration};

use reqwest::{Method, RequestBuilder, StatusCode, header};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::snowflake;

/// Upper bound on every call, so a slow gateway never holds a command past
/// Discord's interaction deadline (3 s to answer, then 15 min to follow up).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What can go wrong talking to the gateway, in terms a reply can explain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway answered 503: the backend behind it is down.
    #[error("backend unavailable ({code})")]
    Unavailable { code: String },
    /// The gateway could not be reached (connection refused, timeout).
    #[error("gateway unreachable: {0}")]
    Unreachable(String),
    /// 401/403: the gateway refused `GATEWAY_API_KEY` (a deployment
    /// mistake, not the user's).
    #[error("gateway refused the API key ({status})")]
    Unauthorized { status: u16 },
    /// 429: this API key is over its rate limit.
    #[error("rate limited (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// Any other 4xx: the request was refused; `message` says why.
    #[error("rejected with {status}: {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    /// A 5xx other than 503, or a body that is not the documented JSON.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// One Discord event forwarded to `POST /events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayEvent {
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[serde(with = "snowflake")]
    pub guild_id: u64,
    #[serde(with = "snowflake")]
    pub user_id: u64,
    /// RFC 3339, UTC.
    pub occurred_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    MemberJoin,
    MemberLeave,
    MessageCreate,
    BanAdd,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MemberJoin => "member_join",
            Self::MemberLeave => "member_leave",
            Self::MessageCreate => "message_create",
            Self::BanAdd => "ban_add",
        }
    }
}

/// `GET /api/guilds/{id}/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildStats {
    #[serde(with = "snowflake")]
    pub guild_id: u64,
    pub window_seconds: u64,
    pub members_joined: u64,
    pub members_left: u64,
    pub messages: u64,
    #[serde(default)]
    pub actions: ActionCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionCounts {
    pub warn: u64,
    pub timeout: u64,
    pub kick: u64,
    pub ban: u64,
}

/// Body of `POST /api/guilds/{id}/moderation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewModerationAction {
    pub action: String,
    #[serde(with = "snowflake")]
    pub moderator_id: u64,
    #[serde(with = "snowflake")]
    pub target_id: u64,
    pub reason: String,
}

/// A recorded moderation action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationAction {
    #[serde(deserialize_with = "snowflake::string_or_number")]
    pub id: String,
    #[serde(with = "snowflake")]
    pub guild_id: u64,
    pub action: String,
    #[serde(with = "snowflake")]
    pub moderator_id: u64,
    #[serde(with = "snowflake")]
    pub target_id: u64,
    #[serde(default)]
    pub reason: String,
    pub created_at: String,
}

/// `GET /api/guilds/{id}/moderation`: one page, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationPage {
    pub items: Vec<ModerationAction>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The calls the bot makes. The futures are `Send` because poise runs
/// commands on the multi-threaded runtime.
pub trait GatewayApi: Send + Sync {
    /// `POST /events`; returns how many events the gateway accepted.
    fn post_events(
        &self,
        events: &[GatewayEvent],
    ) -> impl Future<Output = Result<u64, GatewayError>> + Send;

    /// `GET /api/guilds/{guild}/stats?window=`.
    fn guild_stats(
        &self,
        guild_id: u64,
        window: &str,
    ) -> impl Future<Output = Result<GuildStats, GatewayError>> + Send;

    /// `POST /api/guilds/{guild}/moderation`.
    fn record_moderation(
        &self,
        guild_id: u64,
        action: &NewModerationAction,
    ) -> impl Future<Output = Result<ModerationAction, GatewayError>> + Send;

    /// `GET /api/guilds/{guild}/moderation?target=&limit=`.
    fn moderation_history(
        &self,
        guild_id: u64,
        target_id: u64,
        limit: u32,
    ) -> impl Future<Output = Result<ModerationPage, GatewayError>> + Send;
}

/// The HTTP implementation of [`GatewayApi`].
#[derive(Debug, Clone)]
pub struct GatewayClient {
    /// Traces every call and carries its context in `traceparent`.
    http: telemetry::trace::HttpClient,
    base_url: String,
    api_key: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the gateway HTTP client: {0}")]
pub struct ClientBuildError(#[from] reqwest::Error);

impl GatewayClient {
    /// `base_url` without a trailing slash (as `telemetry::config::http_url` returns it).
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, ClientBuildError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Self {
            http: telemetry::trace::HttpClient::from_reqwest(http),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
    }

    /// Every outbound call goes through here: authentication and the
    /// trace context (a client span, `traceparent`) are added in one place,
    /// and every answer is mapped to [`GatewayError`] the same way.
    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, GatewayError> {
        let request = request
            .bearer_auth(&self.api_key)
            .header(header::ACCEPT, "application/json");
        let response = self
            .http
            .send(request)
            .await
            .map_err(|error| GatewayError::Unreachable(error.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return response
                .json()
                .await
                .map_err(|error| GatewayError::Unexpected(format!("{status}: {error}")));
        }
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.unwrap_or_default();
        Err(error_from(status, retry_after, &body))
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    field: Option<String>,
}

fn error_from(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> GatewayError {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .map(|e| e.error);
    match status {
        StatusCode::TOO_MANY_REQUESTS => GatewayError::RateLimited { retry_after },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => GatewayError::Unauthorized {
            status: status.as_u16(),
        },
        StatusCode::SERVICE_UNAVAILABLE => GatewayError::Unavailable {
            code: parsed.map_or_else(|| "service_unavailable".to_owned(), |e| e.code),
        },
        status if status.is_client_error() => {
            let error = parsed.unwrap_or_else(|| ErrorBody {
                code: status.as_str().to_owned(),
                message: String::from_utf8_lossy(body).chars().take(200).collect(),
                field: None,
            });
            GatewayError::Rejected {
                status: status.as_u16(),
                code: error.code,
                message: error.message,
                field: error.field,
            }
        }
        status => GatewayError::Unexpected(format!(
            "{status}: {}",
            parsed.map_or_else(
                || String::from_utf8_lossy(body).chars().take(200).collect(),
                |e| e.message
            )
        )),
    }
}

#[derive(Serialize)]
struct EventBatch<'a> {
    events: &'a [GatewayEvent],
}

#[derive(Deserialize)]
struct Accepted {
    accepted: u64,
}

impl GatewayApi for GatewayClient {
    async fn post_events(&self, events: &[GatewayEvent]) -> Result<u64, GatewayError> {
        let request = self
            .request(Method::POST, "/events")
            .json(&EventBatch { events });
        self.send::<Accepted>(request).await.map(|a| a.accepted)
    }

    async fn guild_stats(&self, guild_id: u64, window: &str) -> Result<GuildStats, GatewayError> {
        // `window` comes from our own code (a duration like `24h`), never
        // from a user, so it needs no escaping.
        let path = format!("/api/guilds/{guild_id}/stats?window={window}");
        self.send(self.request(Method::GET, &path)).await
    }

    async fn record_moderation(
        &self,
        guild_id: u64,
        action: &NewModerationAction,
    ) -> Result<ModerationAction, GatewayError> {
        let path = format!("/api/guilds/{guild_id}/moderation");
        self.send(self.request(Method::POST, &path).json(action))
            .await
    }

    async fn moderation_history(
        &self,
        guild_id: u64,
        target_id: u64,
        limit: u32,
    ) -> Result<ModerationPage, GatewayError> {
        let path = format!("/api/guilds/{guild_id}/moderation?target={target_id}&limit={limit}");
        self.send(self.request(Method::GET, &path)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_map_to_variants() {
        let body =
            br#"{"error":{"code":"invalid_id","message":"not a snowflake","field":"target_id"}}"#;
        assert_eq!(
            error_from(StatusCode::BAD_REQUEST, None, body),
            GatewayError::Rejected {
                status: 400,
                code: "invalid_id".into(),
                message: "not a snowflake".into(),
                field: Some("target_id".into()),
            }
        );
        assert_eq!(
            error_from(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                br#"{"error":{"code":"backend_unavailable","message":"down"}}"#
            ),
            GatewayError::Unavailable {
                code: "backend_unavailable".into()
            }
        );
        assert_eq!(
            error_from(
                StatusCode::TOO_MANY_REQUESTS,
                Some(Duration::from_secs(3)),
                b""
            ),
            GatewayError::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert!(matches!(
            error_from(StatusCode::BAD_GATEWAY, None, b"<html>"),
            GatewayError::Unexpected(_)
        ));
        assert_eq!(
            error_from(StatusCode::UNAUTHORIZED, None, b""),
            GatewayError::Unauthorized { status: 401 }
        );
        // A 4xx without the JSON envelope still reads as a rejection.
        assert!(matches!(
            error_from(StatusCode::NOT_FOUND, None, b"nope"),
            GatewayError::Rejected { status: 404, .. }
        ));
    }

    #[test]
    fn events_serialize_with_string_snowflakes() {
        let event = GatewayEvent {
            kind: EventKind::BanAdd,
            guild_id: 81384788765712384,
            user_id: 80351110224678912,
            occurred_at: "2026-01-01T00:00:00.000Z".into(),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "type": "ban_add",
                "guild_id": "81384788765712384",
                "user_id": "80351110224678912",
                "occurred_at": "2026-01-01T00:00:00.000Z",
            })
        );
    }
}
