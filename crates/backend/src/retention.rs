//! The retention job: bounds how long member and moderation rows are kept.
//!
//! Every `RETENTION_INTERVAL_SECONDS` (and once at start), each table loses
//! its rows past their retention (`MEMBER_RETENTION_DAYS` since the member
//! was last seen, `MODERATION_RETENTION_DAYS` since the entry was created;
//! `0` keeps a table forever), in batches of `RETENTION_BATCH_SIZE` rows, at
//! most `RETENTION_MAX_BATCHES` batches per table and run: a backlog is
//! worked off over several runs rather than in one long burst. Graceful
//! shutdown stops the job between two batches. Each replica runs it; the
//! deletes are idempotent, so concurrent runs only repeat work.

use std::{sync::LazyLock, time::Duration};

use telemetry::{
    ConfigError, Shutdown,
    config::{parse_or, var},
    metrics::CounterVec,
};

use crate::store::{RetainedTable, Store, StoreError};

pub const DEFAULT_MEMBER_RETENTION_DAYS: u32 = 365;
pub const DEFAULT_MODERATION_RETENTION_DAYS: u32 = 730;
pub const DEFAULT_INTERVAL_SECONDS: u64 = 3600;
pub const DEFAULT_BATCH_SIZE: u32 = 1000;
pub const DEFAULT_MAX_BATCHES: u32 = 10;
/// A century: longer is a typo, and keeps `days × 86 400 000` far from overflow.
pub const MAX_RETENTION_DAYS: u32 = 36_500;
const MAX_BATCH_SIZE: u32 = 100_000;

/// Rows deleted by the retention job, by table.
pub static RETENTION_DELETED: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "retention_deleted_rows_total",
        "Rows deleted by the retention job, by table",
        &["table"],
    )
});

/// Retention runs, by outcome (`ok`, `error`).
pub static RETENTION_RUNS: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "retention_runs_total",
        "Retention job runs, by outcome",
        &["outcome"],
    )
});

/// The job's settings (`MEMBER_RETENTION_DAYS`, `MODERATION_RETENTION_DAYS`,
/// `RETENTION_INTERVAL_SECONDS`, `RETENTION_BATCH_SIZE`, `RETENTION_MAX_BATCHES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `None`: kept forever.
    pub members: Option<Duration>,
    pub moderation: Option<Duration>,
    pub interval: Duration,
    pub batch_size: u32,
    pub max_batches: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            members: days(DEFAULT_MEMBER_RETENTION_DAYS),
            moderation: days(DEFAULT_MODERATION_RETENTION_DAYS),
            interval: Duration::from_secs(DEFAULT_INTERVAL_SECONDS),
            batch_size: DEFAULT_BATCH_SIZE,
            max_batches: DEFAULT_MAX_BATCHES,
        }
    }
}

fn days(days: u32) -> Option<Duration> {
    (days > 0).then(|| Duration::from_secs(u64::from(days) * 86_400))
}

impl RetentionConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            members: retention_days("MEMBER_RETENTION_DAYS", DEFAULT_MEMBER_RETENTION_DAYS)?,
            moderation: retention_days(
                "MODERATION_RETENTION_DAYS",
                DEFAULT_MODERATION_RETENTION_DAYS,
            )?,
            interval: Duration::from_secs(bounded(
                "RETENTION_INTERVAL_SECONDS",
                DEFAULT_INTERVAL_SECONDS,
                1,
                7 * 86_400,
            )?),
            batch_size: bounded(
                "RETENTION_BATCH_SIZE",
                DEFAULT_BATCH_SIZE,
                1,
                MAX_BATCH_SIZE,
            )?,
            max_batches: bounded("RETENTION_MAX_BATCHES", DEFAULT_MAX_BATCHES, 1, 1000)?,
        })
    }

    /// How long `table` keeps its rows (`None`: forever).
    pub fn retention_of(&self, table: RetainedTable) -> Option<Duration> {
        match table {
            RetainedTable::Members => self.members,
            RetainedTable::ModerationActions => self.moderation,
        }
    }
}

fn retention_days(name: &str, default: u32) -> Result<Option<Duration>, ConfigError> {
    Ok(days(bounded(name, default, 0, MAX_RETENTION_DAYS)?))
}

/// `name` parsed, within `min..=max`.
fn bounded<T>(name: &str, default: T, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    let value = parse_or(name, default)?;
    if value < min || value > max {
        let raw = var(name).unwrap_or_default();
        return Err(ConfigError::new(
            name,
            &raw,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(value)
}

/// What one run deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub members: u64,
    pub moderation_actions: u64,
    /// A table still had expired rows when the run's batch budget ran out
    /// (or shutdown began): the next run continues.
    pub backlog: bool,
}

impl RunReport {
    fn add(&mut self, table: RetainedTable, rows: u64) {
        match table {
            RetainedTable::Members => self.members += rows,
            RetainedTable::ModerationActions => self.moderation_actions += rows,
        }
    }
}

/// One run at `now_ms`: every table with a retention loses its expired
/// rows, within the batch budget; stops between batches once `shutdown`
/// has begun.
pub async fn run_once(
    store: &Store,
    config: &RetentionConfig,
    now_ms: i64,
    shutdown: &Shutdown,
) -> Result<RunReport, StoreError> {
    let mut report = RunReport::default();
    for table in RetainedTable::ALL {
        let Some(cutoff) = cutoff_ms(config, table, now_ms) else {
            continue;
        };
        let limit = i64::from(config.batch_size);
        let mut batches = 0;
        loop {
            if shutdown.is_shutting_down() {
                report.backlog = true;
                return Ok(report);
            }
            let deleted = store.delete_expired(table, cutoff, limit).await?;
            RETENTION_DELETED
                .with_label_values(&[table.as_str()])
                .inc_by(deleted);
            report.add(table, deleted);
            batches += 1;
            if deleted < u64::from(config.batch_size) {
                break;
            }
            if batches >= config.max_batches {
                report.backlog = true;
                break;
            }
        }
    }
    Ok(report)
}

/// Runs [`run_once`] at start and every `config.interval` until shutdown
/// begins; the returned task ends then (await it before closing the pool).
pub fn spawn(
    store: Store,
    config: RetentionConfig,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    LazyLock::force(&RETENTION_DELETED);
    LazyLock::force(&RETENTION_RUNS);
    for table in RetainedTable::ALL {
        RETENTION_DELETED.with_label_values(&[table.as_str()]);
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(config.interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.draining() => return,
                _ = every.tick() => {}
            }
            match run_once(&store, &config, crate::model::now_ms(), &shutdown).await {
                Ok(report) => {
                    RETENTION_RUNS.with_label_values(&["ok"]).inc();
                    if report.members > 0 || report.moderation_actions > 0 || report.backlog {
                        tracing::info!(
                            context = "Retention",
                            members_deleted = report.members,
                            moderation_actions_deleted = report.moderation_actions,
                            backlog = report.backlog,
                            "retention run deleted {} member rows and {} moderation entries",
                            report.members,
                            report.moderation_actions
                        );
                    }
                }
                Err(error) => {
                    RETENTION_RUNS.with_label_values(&["error"]).inc();
                    tracing::warn!(context = "Retention", %error, "retention run failed; retrying at the next interval");
                }
            }
        }
    })
}

/// Rows of `table` older than this (Unix ms) are expired at `now_ms`;
/// `None` when the table is kept forever.
pub fn cutoff_ms(config: &RetentionConfig, table: RetainedTable, now_ms: i64) -> Option<i64> {
    config.retention_of(table).map(|retention| {
        now_ms.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 24 * 60 * 60 * 1000;

    #[test]
    fn zero_days_keeps_a_table_forever() {
        assert_eq!(days(0), None);
        assert_eq!(days(2), Some(Duration::from_secs(2 * 86_400)));
        assert_eq!(
            days(MAX_RETENTION_DAYS).map(|d| d.as_millis()),
            Some(u128::from(MAX_RETENTION_DAYS) * DAY_MS as u128)
        );
    }

    #[test]
    fn defaults_bound_both_tables() {
        let config = RetentionConfig::default();
        let now = 1_800_000_000_000;
        assert_eq!(
            cutoff_ms(&config, RetainedTable::Members, now),
            Some(now - 365 * DAY_MS)
        );
        assert_eq!(
            cutoff_ms(&config, RetainedTable::ModerationActions, now),
            Some(now - 730 * DAY_MS)
        );
    }
}
