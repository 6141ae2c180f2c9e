//! The database: one pool over SQLite or PostgreSQL.
//!
//! sqlx's `Any` driver is used rather than code generic over
//! `sqlx::Database`: the two engines share one migration file and one set of
//! queries (portable SQL, `$n` placeholders, BIGINT/TEXT columns only), so a
//! single code path is tested on both and there is no per-engine duplication.
//! The price is the `Any` type set (integers, text), hence times stored as
//! Unix milliseconds and settings as JSON text.

mod erasure;
mod events;
mod guilds;
mod members;
mod metrics;
mod migrations;
mod moderation;
mod retention;
mod stats;

use std::{
    future::Future,
    path::Path,
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};

use sqlx::{AnyPool, any::AnyPoolOptions};
use telemetry::metrics::HistogramVec;
use tracing::Instrument;

pub use erasure::ERASED_REASON;
pub use events::{BATCH_KEY_RETENTION, EVENT_BATCHES_DUPLICATE, EVENTS_INGESTED, Ingestion};
pub use metrics::{expose_pool, spawn_business_gauges};
pub use migrations::MIGRATOR;
pub use retention::RetainedTable;

use crate::{pseudonym::Pseudonyms, snowflake::IdGenerator};

/// Time spent in each store operation, by operation (the store method).
pub static DB_QUERY_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    telemetry::metrics::histogram_vec(
        "db_query_duration_seconds",
        "Time spent in database operations, by operation",
        &["operation"],
        &[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ],
    )
});

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The database cannot be reached (as opposed to a failing query).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connect(_) | Self::CreateDir { .. } => true,
            Self::Query(error) => matches!(
                error,
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            ),
            Self::Migrate(_) | Self::Corrupt(_) => false,
        }
    }

    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Query(sqlx::Error::Database(error)) if error.is_unique_violation())
    }
}

/// Which engine is behind the pool (the `db.system.name` of the spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn from_url(url: &str) -> Self {
        if url.starts_with("postgres") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    /// OpenTelemetry's `db.system` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgresql",
        }
    }
}

/// The database handle every route shares (cheap to clone).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    ids: Arc<IdGenerator>,
    /// The pseudonyms of erased users (salted with `LOG_HASH_SALT`).
    pseudonyms: Pseudonyms,
}

impl Store {
    /// Connects and runs the migrations. A SQLite URL without a `mode`
    /// (`sqlite:///path/app.db`, the form most people type) creates the file
    /// and its directory, as the default URL does.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let engine = Engine::from_url(url);
        // Each connection to `sqlite::memory:` is a database of its own: one
        // connection, kept for the life of the pool, is the database.
        let in_memory = engine == Engine::Sqlite && SqliteFile::parse(url).is_none();
        let url = match SqliteFile::parse(url) {
            Some(file) if engine == Engine::Sqlite => {
                if file.creates() {
                    file.create_dir()?;
                }
                file.url_creating_by_default(url)
            }
            _ => url.to_owned(),
        };
        let url = url.as_str();
        let mut options = AnyPoolOptions::new();
        if in_memory {
            options = options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = options
            .max_connections(if in_memory { 1 } else { max_connections })
            // A request waits this long for a connection, then gets a 503.
            .acquire_timeout(Duration::from_secs(5))
            // The ping before each acquire guards against connections a
            // database server dropped; an embedded SQLite connection cannot
            // go stale, and the ping is one more round trip to its worker
            // thread per query (+4-10 % reads/s without it: BENCHMARKS.md).
            .test_before_acquire(engine != Engine::Sqlite)
            .connect(url)
            .await
            .map_err(StoreError::Connect)?;
        if engine == Engine::Sqlite && !url.contains(":memory:") {
            // Readers then never wait for a writer (demo traffic mixes both).
            // The mode is stored in the file: setting it once at start is
            // enough for every connection.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(StoreError::Connect)?;
        }
        let store = Self {
            pool,
            engine,
            ids: Arc::new(IdGenerator::new()),
            pseudonyms: Pseudonyms::default(),
        };
        store
            .timed("migrate", "MIGRATE", "_sqlx_migrations", async {
                MIGRATOR.run(&store.pool).await.map_err(StoreError::from)
            })
            .await?;
        Ok(store)
    }

    /// Erased users get their pseudonyms from `pseudonyms` (default: the
    /// public development salt).
    pub fn with_pseudonyms(mut self, pseudonyms: Pseudonyms) -> Self {
        self.pseudonyms = pseudonyms;
        self
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Readiness: the database answers and every migration is applied.
    pub async fn health(&self) -> Result<(), String> {
        migrations::check_applied(self)
            .await
            .map_err(|error| error.to_string())
    }

    /// Runs `query` inside a database client span and records its duration under
    /// `operation` (the store method) in [`DB_QUERY_DURATION`].
    pub(crate) async fn timed<T, E>(
        &self,
        operation: &'static str,
        verb: &'static str,
        table: &'static str,
        query: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError>
    where
        StoreError: From<E>,
    {
        let span = telemetry::trace::spans::db(self.engine.as_str(), verb, table);
        let _in_flight = metrics::InFlight::start();
        let start = Instant::now();
        let result = query.instrument(span.clone()).await;
        if result.is_err() {
            telemetry::trace::spans::record_error(&span, "db_error");
        }
        DB_QUERY_DURATION
            .with_label_values(&[operation])
            .observe(start.elapsed().as_secs_f64());
        result.map_err(StoreError::from)
    }
}

/// The file behind a SQLite URL, and the `mode` it is opened in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteFile<'a> {
    /// As sqlx reads it: `sqlite:///abs.db` → `/abs.db`, `sqlite:rel.db` → `rel.db`.
    pub path: &'a str,
    /// `ro`, `rw`, `rwc` or `memory`; `None` when the URL names none.
    pub mode: Option<&'a str>,
}

impl<'a> SqliteFile<'a> {
    /// `None` for an in-memory database or a URL that is not SQLite's.
    pub fn parse(url: &'a str) -> Option<Self> {
        let rest = url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mode = query.split('&').find_map(|pair| pair.strip_prefix("mode="));
        let in_memory = path.is_empty() || path == ":memory:" || mode == Some("memory");
        (!in_memory).then_some(Self { path, mode })
    }

    /// Whether opening creates a missing file (no mode, or `mode=rwc`).
    pub fn creates(&self) -> bool {
        matches!(self.mode, None | Some("rwc"))
    }

    /// `url` with `mode=rwc` added when it names no mode: sqlx's default
    /// (`rw`) would refuse a file that does not exist yet.
    pub fn url_creating_by_default(&self, url: &str) -> String {
        match self.mode {
            Some(_) => url.to_owned(),
            None if url.contains('?') => format!("{url}&mode=rwc"),
            None => format!("{url}?mode=rwc"),
        }
    }

    /// Creates the file's directory (`./data/` for the default URL).
    fn create_dir(&self) -> Result<(), StoreError> {
        match Path::new(self.path).parent() {
            Some(dir) if !dir.as_os_str().is_empty() => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every query of an in-memory database sees the migrated schema, however
    /// many run at once (each connection would otherwise be a fresh, empty
    /// database).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_in_memory_database_is_one_database_for_every_query() {
        let store = Store::connect("sqlite::memory:", 8).await.unwrap();
        let checks = (0..32).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.health().await })
        });
        for check in checks.collect::<Vec<_>>() {
            assert_eq!(check.await.unwrap(), Ok(()));
        }
    }

    #[test]
    fn sqlite_urls_name_their_file_and_mode() {
        let file = |path, mode| Some(SqliteFile { path, mode });
        assert_eq!(
            SqliteFile::parse("sqlite:///srv/app.db"),
            file("/srv/app.db", None)
        );
        assert_eq!(
            SqliteFile::parse("sqlite://./data/backend.db?mode=rwc"),
            file("./data/backend.db", Some("rwc"))
        );
        assert_eq!(
            SqliteFile::parse("sqlite:app.db?cache=shared&mode=ro"),
            file("app.db", Some("ro"))
        );
        assert_eq!(SqliteFile::parse("sqlite::memory:"), None);
        assert_eq!(SqliteFile::parse("sqlite://x.db?mode=memory"), None);
        assert_eq!(SqliteFile::parse("postgres://db/app"), None);
    }

    #[test]
    fn a_url_without_mode_creates_the_file() {
        let url = "sqlite:///srv/app.db";
        let file = SqliteFile::parse(url).unwrap();
        assert!(file.creates());
        assert_eq!(
            file.url_creating_by_default(url),
            "sqlite:///srv/app.db?mode=rwc"
        );
        let url = "sqlite:///srv/app.db?cache=shared";
        let file = SqliteFile::parse(url).unwrap();
        assert_eq!(file.url_creating_by_default(url), format!("{url}&mode=rwc"));
        let url = "sqlite:///srv/app.db?mode=rw";
        let file = SqliteFile::parse(url).unwrap();
        assert!(!file.creates(), "an explicit mode is respected");
        assert_eq!(file.url_creating_by_default(url), url);
    }
}
