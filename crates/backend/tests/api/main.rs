//! The API through the real router (in-process, `oneshot`), with the same
//! test bodies on SQLite (always) and PostgreSQL (a throwaway cluster; skipped
//! loudly when PostgreSQL is missing, required under `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cases;
mod harness;
mod privacy;

use testkit::postgres::PgCluster;

/// Declares each case once; generates one `sqlite::<case>` test per case and
/// one `postgres_every_case` test that runs them all on one cluster (one
/// database per case: a cluster start costs seconds, a database does not).
macro_rules! storage_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let app = crate::harness::TestApp::sqlite().await;
                    crate::cases::$case(&app).await;
                }
            )*
        }

        #[tokio::test]
        async fn postgres_every_case() {
            let Some(cluster) = PgCluster::start_or_skip("postgres_every_case") else {
                return;
            };
            $(
                eprintln!("postgres: {}", stringify!($case));
                let app = harness::TestApp::postgres(&cluster).await;
                cases::$case(&app).await;
                app.close().await;
            )*
        }
    };
}

storage_tests!(
    guild_is_created_then_updated,
    unknown_guild_is_404_json,
    invalid_guild_id_is_400_naming_id,
    guild_body_errors_name_the_field,
    body_format_errors_are_json,
    members_are_paginated_by_cursor,
    members_query_errors_name_the_parameter,
    moderation_actions_are_listed_newest_first,
    moderation_body_errors_name_the_field,
    events_feed_the_stats,
    event_batch_errors_name_the_field,
    a_repeated_batch_key_is_counted_once,
    stats_window_errors_name_the_window,
    unknown_routes_and_methods_are_json,
    health_check_passes_once_migrated,
    erasure_deletes_members_and_pseudonymises_moderation,
    erasure_body_errors_name_the_field,
    retention_removes_old_rows_and_keeps_recent_ones,
    retention_work_per_run_is_bounded,
    retention_job_runs_at_start_and_stops_on_shutdown,
);

/// The timeout layer answers 503 JSON, the server's failure: not 408, which
/// says the client was slow. The request is made to wait 30 s (`X-Demo-Fault`)
/// against a 50 ms budget: a budget of a few nanoseconds let a query that
/// answered within the timer's first millisecond through.
#[tokio::test]
async fn a_request_over_the_timeout_is_503_json() {
    let app = harness::TestApp::sqlite_with_timeout(std::time::Duration::from_millis(50)).await;
    let request = axum::http::Request::get("/api/guilds/1/stats")
        .header(backend::faults::HEADER, "delay=30000")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.send(request).await;
    harness::assert_error(&response, 503, "handler_timeout", None);
}
