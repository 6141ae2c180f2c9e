//! Ingestion of Discord events: per-minute counts in `event_counts` plus the
//! `members` they reveal. One transaction per batch; a batch with a key is
//! ingested at most once (its key is recorded in the same transaction), so a
//! retry after a lost answer does not count its events twice.

use std::{collections::HashMap, sync::LazyLock, time::Duration};

use telemetry::metrics::{Counter, CounterVec};

use super::{Store, StoreError, members::record_seen};
use crate::{
    model::{Event, EventType},
    snowflake::Snowflake,
};

/// Events stored, by type.
pub static EVENTS_INGESTED: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "events_ingested_total",
        "Discord events ingested, by type",
        &["type"],
    )
});

/// Batches whose key was already ingested: retries after a lost answer.
pub static EVENT_BATCHES_DUPLICATE: LazyLock<Counter> = LazyLock::new(|| {
    telemetry::metrics::counter(
        "event_batches_duplicate_total",
        "Event batches ignored because their key was already ingested",
    )
});

const MINUTE_MS: i64 = 60_000;

/// How long a batch key is remembered: far beyond the gateway's retries of a
/// batch (seconds), short enough that the table stays small.
pub const BATCH_KEY_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// What [`Store::ingest_events`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingestion {
    /// The events were counted.
    Stored(usize),
    /// The batch's key was already ingested: nothing was counted again.
    Duplicate,
}

impl Store {
    /// Stores `events` atomically, once per `batch_key` (within
    /// [`BATCH_KEY_RETENTION`]); `now_ms` dates the key.
    pub async fn ingest_events(
        &self,
        events: &[Event],
        batch_key: Option<&str>,
        now_ms: i64,
    ) -> Result<Ingestion, StoreError> {
        let mut counts: HashMap<(Snowflake, EventType, i64), i64> = HashMap::new();
        for event in events {
            let minute = event.occurred_at.div_euclid(MINUTE_MS);
            *counts
                .entry((event.guild_id, event.kind, minute))
                .or_default() += 1;
        }
        let mut tx = self
            .timed(
                "ingest_events",
                "BEGIN",
                "event_counts",
                self.pool().begin(),
            )
            .await?;
        if let Some(key) = batch_key {
            let retention_ms = i64::try_from(BATCH_KEY_RETENTION.as_millis()).unwrap_or(i64::MAX);
            let recorded = self
                .timed("ingest_events", "INSERT", "event_batches", async {
                    sqlx::query("DELETE FROM event_batches WHERE received_at < $1")
                        .bind(now_ms.saturating_sub(retention_ms))
                        .execute(&mut *tx)
                        .await?;
                    // A concurrent insert of the same key waits for the first
                    // transaction, then conflicts: one of the two counts.
                    sqlx::query(
                        "INSERT INTO event_batches (batch_key, received_at) VALUES ($1, $2) \
                         ON CONFLICT (batch_key) DO NOTHING",
                    )
                    .bind(key)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                })
                .await?;
            if recorded.rows_affected() == 0 {
                // Dropping the transaction rolls it back (the prune too: it
                // runs again with the next batch).
                EVENT_BATCHES_DUPLICATE.inc();
                return Ok(Ingestion::Duplicate);
            }
        }
        self.timed("ingest_events", "INSERT", "event_counts", async {
            for ((guild, kind, minute), count) in &counts {
                sqlx::query(
                    "INSERT INTO event_counts (guild_id, event_type, minute, count) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (guild_id, event_type, minute) \
                     DO UPDATE SET count = event_counts.count + excluded.count",
                )
                .bind(guild.get())
                .bind(kind.as_str())
                .bind(*minute)
                .bind(*count)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, sqlx::Error>(())
        })
        .await?;
        self.timed("ingest_events", "INSERT", "members", async {
            for event in events {
                record_seen(
                    &mut tx,
                    event.kind,
                    event.guild_id,
                    event.user_id,
                    event.occurred_at,
                )
                .await?;
            }
            Ok::<_, sqlx::Error>(())
        })
        .await?;
        self.timed("ingest_events", "COMMIT", "event_counts", tx.commit())
            .await?;
        for event in events {
            EVENTS_INGESTED
                .with_label_values(&[event.kind.as_str()])
                .inc();
        }
        Ok(Ingestion::Stored(events.len()))
    }
}
