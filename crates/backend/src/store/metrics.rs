//! Saturation and business gauges of the database: the pool (read at each
//! scrape) and what the data says (guilds known, members seen in the last
//! 24 h), refreshed in the background so a scrape never waits on a query.

use std::{
    sync::{
        LazyLock,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use telemetry::metrics::{Gauge, gauge, gauge_fn};

use super::{Store, StoreError};

/// Store operations running now: each holds a connection or waits for one,
/// so this minus the connections in use is the number waiting.
static OPERATIONS_IN_FLIGHT: AtomicI64 = AtomicI64::new(0);

static GUILDS_KNOWN: LazyLock<Gauge> =
    LazyLock::new(|| gauge("guilds_known", "Guilds the backend has stored"));

static MEMBERS_SEEN_24H: LazyLock<Gauge> = LazyLock::new(|| {
    gauge(
        "members_seen_24h",
        "Members seen (joined or active) in the last 24 hours, across guilds",
    )
});

/// How often the business gauges are recomputed.
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// Counts one store operation while alive.
pub(super) struct InFlight;

impl InFlight {
    pub(super) fn start() -> Self {
        OPERATIONS_IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        OPERATIONS_IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Exposes `store`'s pool: `db_client_connection_used`, `_idle`, `_max`
/// and `db_client_connection_pending_requests` (OpenTelemetry's
/// `db.client.connection.*`).
pub fn expose_pool(store: &Store, max_connections: u32) {
    let pool = store.pool().clone();
    let used = move || f64::from(pool.size()) - pool.num_idle() as f64;
    gauge_fn(
        "db_client_connection_used",
        "Database connections in use",
        used.clone(),
    );
    let pool = store.pool().clone();
    gauge_fn(
        "db_client_connection_idle",
        "Database connections open and idle",
        move || pool.num_idle() as f64,
    );
    gauge_fn(
        "db_client_connection_max",
        "Most database connections the pool opens (DATABASE_MAX_CONNECTIONS)",
        move || f64::from(max_connections),
    );
    gauge_fn(
        "db_client_connection_pending_requests",
        "Store operations waiting for a database connection",
        move || (OPERATIONS_IN_FLIGHT.load(Ordering::Relaxed) as f64 - used()).max(0.0),
    );
}

/// Recomputes the business gauges every [`REFRESH_EVERY`] until the
/// process ends; a failing query leaves the last values and is logged.
pub fn spawn_business_gauges(store: Store) -> tokio::task::JoinHandle<()> {
    // Exposed (at 0) from the start, not only after the first refresh.
    LazyLock::force(&GUILDS_KNOWN);
    LazyLock::force(&MEMBERS_SEEN_24H);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(REFRESH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(error) = refresh(&store).await {
                tracing::warn!(context = "Metrics", %error, "cannot refresh the business gauges");
            }
        }
    })
}

async fn refresh(store: &Store) -> Result<(), StoreError> {
    let (guilds, members) = store.business_counts(crate::model::now_ms()).await?;
    GUILDS_KNOWN.set(guilds);
    MEMBERS_SEEN_24H.set(members);
    Ok(())
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Store {
    /// Guilds known (stored, or seen through a member) and members seen
    /// since `now_ms` minus 24 h.
    pub async fn business_counts(&self, now_ms: i64) -> Result<(i64, i64), StoreError> {
        use sqlx::Row as _;
        let guilds = self
            .timed(
                "count_guilds",
                "SELECT",
                "guilds",
                sqlx::query(
                    "SELECT COUNT(*) AS n FROM \
                     (SELECT id FROM guilds UNION SELECT guild_id FROM members) AS known",
                )
                .fetch_one(self.pool()),
            )
            .await?
            .try_get::<i64, _>("n")?;
        let members = self
            .timed(
                "count_members_seen",
                "SELECT",
                "members",
                sqlx::query("SELECT COUNT(*) AS n FROM members WHERE last_seen >= $1")
                    .bind(now_ms - DAY_MS)
                    .fetch_one(self.pool()),
            )
            .await?
            .try_get::<i64, _>("n")?;
        Ok((guilds, members))
    }
}
