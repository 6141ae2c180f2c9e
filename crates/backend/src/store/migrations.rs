//! The schema, embedded in the binary (the same SQL for both engines).

use std::{borrow::Cow, sync::LazyLock};

use sqlx::{
    SqlSafeStr,
    migrate::{Migration, MigrationType, Migrator},
};

use super::{Store, StoreError};

pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            Cow::Borrowed("initial"),
            MigrationType::Simple,
            include_str!("../../migrations/0001_initial.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("event_batches"),
            MigrationType::Simple,
            include_str!("../../migrations/0002_event_batches.sql").into_sql_str(),
            false,
        ),
    ])
});

/// `SELECT`s the migrations table: proves the database answers and that the
/// latest migration this binary knows is applied.
pub(super) async fn check_applied(store: &Store) -> Result<(), StoreError> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or_default();
    let applied: Option<i64> = store
        .timed(
            "health",
            "SELECT",
            "_sqlx_migrations",
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(store.pool()),
        )
        .await?;
    match applied {
        Some(version) if version >= latest => Ok(()),
        other => Err(StoreError::Corrupt(format!(
            "migration {latest} not applied (latest applied: {other:?})"
        ))),
    }
}
