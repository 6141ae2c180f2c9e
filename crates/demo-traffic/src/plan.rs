//! The request mix: what a busy community looks like from the gateway's side.
//! Deterministic for a seed, so a run can be repeated.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

/// Every kind of request the generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `POST /events`: a batch of Discord events, as the bot sends them.
    Events,
    /// `GET /api/guilds/{id}/stats?window=24h` (`/stats`).
    Stats,
    /// `POST /api/guilds/{id}/moderation` (`/warn` and its siblings).
    ModerationPost,
    /// `GET /api/guilds/{id}/moderation?target=&limit=` (`/modlog`).
    ModerationList,
    GuildGet,
    GuildPut,
    /// `GET /api/guilds/{id}/members`.
    MemberList,
    /// Stats over a long window: the expensive query, slowed down past
    /// 500 ms (`X-Demo-Fault: delay=…`).
    SlowStats,
    /// A request the backend holds past the gateway's upstream timeout: the
    /// gateway answers 504 and logs the timeout at `error`.
    UpstreamTimeout,
    /// A request whose database call fails (pool timeout): the backend
    /// answers 503 and logs the cause chain at `error`.
    DatabaseFailure,
    /// A guild id that is not a snowflake.
    BadId,
    /// A body the API must refuse (unknown action, malformed JSON, bad event).
    BadBody,
    /// A route that does not exist.
    UnknownRoute,
}

/// Relative frequency of each kind (sums to 100).
pub const MIX: [(Kind, u32); 13] = [
    (Kind::Events, 25),
    (Kind::Stats, 12),
    (Kind::ModerationPost, 10),
    (Kind::ModerationList, 14),
    (Kind::GuildGet, 10),
    (Kind::GuildPut, 5),
    (Kind::MemberList, 4),
    (Kind::SlowStats, 5),
    (Kind::BadId, 4),
    (Kind::BadBody, 5),
    (Kind::UnknownRoute, 3),
    (Kind::UpstreamTimeout, 1),
    (Kind::DatabaseFailure, 2),
];

/// What counts as a slow request (the cookbook's `duration_ms > 500`).
pub const SLOW_THRESHOLD: std::time::Duration = std::time::Duration::from_millis(500);

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Stats => "stats",
            Self::ModerationPost => "moderation_post",
            Self::ModerationList => "moderation_list",
            Self::GuildGet => "guild_get",
            Self::GuildPut => "guild_put",
            Self::MemberList => "member_list",
            Self::SlowStats => "slow_stats",
            Self::BadId => "bad_id",
            Self::BadBody => "bad_body",
            Self::UnknownRoute => "unknown_route",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::DatabaseFailure => "database_failure",
        }
    }

    /// Whether a bot command makes this call (`/stats`, `/warn`, `/modlog`).
    pub fn is_command_call(self) -> bool {
        matches!(
            self,
            Self::Stats | Self::ModerationPost | Self::ModerationList
        )
    }
}

/// One HTTP request to send, relative to the gateway URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub kind: Kind,
    pub method: &'static str,
    pub path: String,
    /// Already-encoded JSON (possibly malformed on purpose).
    pub body: Option<String>,
    /// `X-Demo-Fault`, honoured by a development backend.
    pub fault: Option<String>,
    /// Discord events in the body (`POST /events`).
    pub events: u64,
}

/// A small deterministic generator (SplitMix64): enough for a traffic mix,
/// no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Produces the sequence of requests.
pub struct Planner {
    rng: Rng,
    guilds: u32,
    sent: u64,
    moderations: usize,
    /// The gateway's upstream timeout: how long a stalled request is held.
    upstream_timeout: std::time::Duration,
}

/// Guild ids look like real snowflakes (2022-era), distinct per index.
pub fn guild_id(index: u32) -> u64 {
    1_020_000_000_000_000_000 + u64::from(index) * 1_000_003
}

/// Each guild has a small population of members.
const MEMBERS_PER_GUILD: u64 = 200;

impl Planner {
    pub fn new(seed: u64, guilds: u32) -> Self {
        Self {
            rng: Rng::new(seed),
            guilds: guilds.max(1),
            sent: 0,
            moderations: 0,
            upstream_timeout: crate::args::DEFAULT_UPSTREAM_TIMEOUT,
        }
    }

    /// Stalled requests outlast `timeout` (the gateway's `UPSTREAM_TIMEOUT_MS`).
    pub fn with_upstream_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.upstream_timeout = timeout;
        self
    }

    /// The next request: first each guild is created (`PUT`, as a bot
    /// joining servers), then every kind once (so even a short run
    /// exercises every route), then the weighted mix.
    pub fn next_request(&mut self) -> Planned {
        let sent = usize::try_from(self.sent).unwrap_or(usize::MAX);
        self.sent += 1;
        let guilds = usize::try_from(self.guilds).unwrap_or(usize::MAX);
        if sent < guilds {
            let index = u32::try_from(sent).unwrap_or(0);
            return self.build_for(Kind::GuildPut, guild_id(index));
        }
        let kind = match MIX.get(sent - guilds) {
            Some((kind, _)) => *kind,
            None => self.pick_kind(),
        };
        self.build(kind)
    }

    fn pick_kind(&mut self) -> Kind {
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut roll = u32::try_from(self.rng.below(u64::from(total))).unwrap_or(0);
        for (kind, weight) in MIX {
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        Kind::Events
    }

    fn guild(&mut self) -> u64 {
        let index = u32::try_from(self.rng.below(u64::from(self.guilds))).unwrap_or(0);
        guild_id(index)
    }

    fn member(&mut self, guild: u64) -> u64 {
        guild + 10_000_000 + self.rng.below(MEMBERS_PER_GUILD)
    }

    fn build(&mut self, kind: Kind) -> Planned {
        let guild = self.guild();
        self.build_for(kind, guild)
    }

    fn build_for(&mut self, kind: Kind, guild: u64) -> Planned {
        let mut fault = None;
        let mut events = 0;
        let (method, path, body) = match kind {
            Kind::Events => {
                let batch = self.events(guild);
                events = batch["events"].as_array().map_or(0, |e| e.len() as u64);
                ("POST", "/events".to_owned(), Some(batch.to_string()))
            }
            Kind::Stats => ("GET", format!("/api/guilds/{guild}/stats?window=24h"), None),
            Kind::SlowStats => {
                // The backend accepts windows up to 30 days.
                let windows = ["7d", "14d", "30d"];
                let window = windows[usize::try_from(self.rng.below(3)).unwrap_or(0)];
                let millis = SLOW_THRESHOLD.as_millis() as u64 + 50 + self.rng.below(250);
                fault = Some(format!("delay={millis}"));
                ("GET", format!("/api/guilds/{guild}/stats?window={window}"), None)
            }
            Kind::UpstreamTimeout => {
                let millis = self.upstream_timeout.as_millis() as u64 + 500;
                fault = Some(format!("delay={millis}"));
                ("GET", format!("/api/guilds/{guild}/stats?window=30d"), None)
            }
            Kind::DatabaseFailure => {
                fault = Some("database".to_owned());
                ("GET", format!("/api/guilds/{guild}/members?limit=50"), None)
            }
            Kind::ModerationPost => {
                // In turn, so even a short run records each action; warnings
                // are the most common, as in a real server.
                let actions = ["warn", "ban", "timeout", "warn", "kick", "warn"];
                let action = actions[self.moderations % actions.len()];
                self.moderations += 1;
                let body = json!({
                    "action": action,
                    "moderator_id": self.member(guild).to_string(),
                    "target_id": self.member(guild).to_string(),
                    "reason": "demo traffic: repeated spam in #general",
                });
                ("POST", format!("/api/guilds/{guild}/moderation"), Some(body.to_string()))
            }
            Kind::ModerationList => {
                let target = self.member(guild);
                ("GET", format!("/api/guilds/{guild}/moderation?target={target}&limit=10"), None)
            }
            Kind::GuildGet => ("GET", format!("/api/guilds/{guild}"), None),
            Kind::MemberList => ("GET", format!("/api/guilds/{guild}/members?limit=50"), None),
            Kind::GuildPut => {
                let body = json!({
                    "name": format!("Demo guild {}", guild % 1000),
                    "settings": { "locale": "en-US", "modlog_enabled": true },
                });
                ("PUT", format!("/api/guilds/{guild}"), Some(body.to_string()))
            }
            Kind::BadId => {
                let ids = ["not-a-snowflake", "-1", "12abc", "99999999999999999999999"];
                let id = ids[usize::try_from(self.rng.below(4)).unwrap_or(0)];
                ("GET", format!("/api/guilds/{id}/stats?window=24h"), None)
            }
            Kind::BadBody => match self.rng.below(3) {
                0 => (
                    "POST",
                    format!("/api/guilds/{guild}/moderation"),
                    Some(json!({"action": "smite", "moderator_id": "1", "target_id": "2", "reason": "x"}).to_string()),
                ),
                1 => (
                    "POST",
                    format!("/api/guilds/{guild}/moderation"),
                    Some(r#"{"action": "warn", "moderator_id": "#.to_owned()),
                ),
                _ => (
                    "POST",
                    "/events".to_owned(),
                    Some(json!({"events": [{"type": "reaction_add", "guild_id": guild.to_string(), "user_id": "1", "occurred_at": now()}]}).to_string()),
                ),
            },
            Kind::UnknownRoute => {
                let paths = ["/api/channels", "/api/guilds", "/api/guilds/1/emojis", "/v2/events"];
                let path = paths[usize::try_from(self.rng.below(4)).unwrap_or(0)];
                ("GET", path.to_owned(), None)
            }
        };
        Planned {
            kind,
            method,
            path,
            body,
            fault,
            events,
        }
    }

    /// 1 to 20 events, mostly messages, as a bot's 250 ms batch looks.
    fn events(&mut self, guild: u64) -> Value {
        let count = 1 + self.rng.below(20);
        let events: Vec<Value> = (0..count)
            .map(|_| {
                let kind = match self.rng.below(100) {
                    0..=84 => "message_create",
                    85..=92 => "member_join",
                    93..=98 => "member_leave",
                    _ => "ban_add",
                };
                json!({
                    "type": kind,
                    "guild_id": guild.to_string(),
                    "user_id": self.member(guild).to_string(),
                    "occurred_at": now(),
                })
            })
            .collect();
        json!({ "events": events })
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guilds_are_created_first_then_every_kind_is_covered() {
        let mut planner = Planner::new(7, 3);
        let setup: Vec<String> = (0..3).map(|_| planner.next_request().path).collect();
        let expected_setup: Vec<String> = (0..3)
            .map(|i| format!("/api/guilds/{}", guild_id(i)))
            .collect();
        assert_eq!(setup, expected_setup);
        let kinds: Vec<Kind> = (0..MIX.len())
            .map(|_| planner.next_request().kind)
            .collect();
        let expected: Vec<Kind> = MIX.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, expected);
    }

    #[test]
    fn the_mix_follows_the_weights() {
        let mut planner = Planner::new(1, 5);
        let n = 20_000;
        let events = (0..n)
            .filter(|_| planner.next_request().kind == Kind::Events)
            .count();
        let share = events as f64 / n as f64;
        assert!((0.22..0.28).contains(&share), "events share {share}");
    }

    #[test]
    fn same_seed_same_sequence() {
        let paths = |seed| {
            let mut planner = Planner::new(seed, 5);
            (0..50)
                .map(|_| planner.next_request().path)
                .collect::<Vec<_>>()
        };
        assert_eq!(paths(3), paths(3));
        assert_ne!(paths(3), paths(4));
    }

    #[test]
    fn event_batches_follow_the_gateway_contract() {
        let mut planner = Planner::new(9, 2);
        let body: Value = serde_json::from_str(&planner.build(Kind::Events).body.unwrap()).unwrap();
        let events = body["events"].as_array().unwrap();
        assert!((1..=20).contains(&events.len()));
        for event in events {
            assert!(event["guild_id"].as_str().unwrap().parse::<u64>().is_ok());
            assert!(event["user_id"].as_str().unwrap().parse::<u64>().is_ok());
            assert!(
                chrono::DateTime::parse_from_rfc3339(event["occurred_at"].as_str().unwrap())
                    .is_ok()
            );
        }
    }
}
