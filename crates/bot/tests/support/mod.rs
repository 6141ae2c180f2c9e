//! An in-memory [`GatewayApi`]: answers with canned results and records calls.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod stack;

use std::sync::Mutex;

use bot::clients::{
    GatewayApi, GatewayError,
    gateway::{GatewayEvent, GuildStats, ModerationAction, ModerationPage, NewModerationAction},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Events(Vec<GatewayEvent>),
    Stats {
        guild_id: u64,
        window: String,
    },
    Record {
        guild_id: u64,
        action: NewModerationAction,
    },
    History {
        guild_id: u64,
        target_id: u64,
        limit: u32,
    },
}

/// Answers every call with `failure` when set, otherwise with the canned values.
#[derive(Default)]
pub struct FakeGateway {
    pub calls: Mutex<Vec<Call>>,
    /// The span current at each call (its name), to check calls happen
    /// inside the command's span.
    pub spans: Mutex<Vec<String>>,
    pub failure: Option<GatewayError>,
    pub stats: Option<GuildStats>,
    pub history: Option<ModerationPage>,
}

impl FakeGateway {
    pub fn failing(error: GatewayError) -> Self {
        Self {
            failure: Some(error),
            ..Self::default()
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<GatewayEvent> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::Events(events) => Some(events),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn spans_at_call(&self) -> Vec<String> {
        self.spans.lock().unwrap().clone()
    }

    fn answer<T>(&self, call: Call, ok: impl FnOnce() -> T) -> Result<T, GatewayError> {
        self.calls.lock().unwrap().push(call);
        let span = tracing::Span::current()
            .metadata()
            .map(|m| m.name().to_owned())
            .unwrap_or_default();
        self.spans.lock().unwrap().push(span);
        match &self.failure {
            Some(error) => Err(error.clone()),
            None => Ok(ok()),
        }
    }
}

impl GatewayApi for FakeGateway {
    async fn post_events(&self, events: &[GatewayEvent]) -> Result<u64, GatewayError> {
        self.answer(Call::Events(events.to_vec()), || events.len() as u64)
    }

    async fn guild_stats(&self, guild_id: u64, window: &str) -> Result<GuildStats, GatewayError> {
        let call = Call::Stats {
            guild_id,
            window: window.to_owned(),
        };
        self.answer(call, || self.stats.clone().expect("stats configured"))
    }

    async fn record_moderation(
        &self,
        guild_id: u64,
        action: &NewModerationAction,
    ) -> Result<ModerationAction, GatewayError> {
        let call = Call::Record {
            guild_id,
            action: action.clone(),
        };
        self.answer(call, || ModerationAction {
            id: "17".to_owned(),
            guild_id,
            action: action.action.clone(),
            moderator_id: action.moderator_id,
            target_id: action.target_id,
            reason: action.reason.clone(),
            created_at: "2026-11-23T01:00:00.000Z".to_owned(),
        })
    }

    async fn moderation_history(
        &self,
        guild_id: u64,
        target_id: u64,
        limit: u32,
    ) -> Result<ModerationPage, GatewayError> {
        let call = Call::History {
            guild_id,
            target_id,
            limit,
        };
        self.answer(call, || {
            self.history.clone().unwrap_or(ModerationPage {
                items: Vec::new(),
                next_cursor: None,
            })
        })
    }
}

/// A Discord model value from `tests/fixtures/{name}.json`.
pub fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
