//! Ingestion of Discord events: per-minute counts in `event_counts` plus the
//! `members` they reveal. One transaction per batch.

use std::{collections::HashMap, sync::LazyLock};

use telemetry::metrics::CounterVec;

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

const MINUTE_MS: i64 = 60_000;

impl Store {
    /// Stores `events` atomically; returns how many were ingested.
    pub async fn ingest_events(&self, events: &[Event]) -> Result<usize, StoreError> {
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
        Ok(events.len())
    }
}
