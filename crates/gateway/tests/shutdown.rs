//! Graceful shutdown of a real gateway process under a steady request load:
//! SIGTERM → `/ready` 503 at once → every request during the grace window
//! succeeds → exit 0 within the deadline → `shutdown complete` logged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use testkit::ServiceBuilder;

const GRACE: Duration = Duration::from_secs(1);
const TIMEOUT_SECONDS: u64 = 5;
/// Load is checked up to this point after the signal: inside the grace
/// window with a margin, since the server stops accepting at its end.
const LOAD_WINDOW: Duration = Duration::from_millis(700);
const WORKERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drops_no_request_and_exits_0() {
    let mut service = ServiceBuilder::new("gateway")
        .env("SHUTDOWN_GRACE_SECONDS", GRACE.as_secs().to_string())
        .env("SHUTDOWN_TIMEOUT_SECONDS", TIMEOUT_SECONDS.to_string())
        // Unreachable on purpose: readiness is not what is tested here.
        .env(
            "BACKEND_URL",
            format!("http://127.0.0.1:{}", testkit::free_port()),
        )
        .spawn();
    service.wait_live().await;

    let succeeded = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (succeeded, failures, stop) = (succeeded.clone(), failures.clone(), stop.clone());
            let url = service.url("/live");
            tokio::spawn(async move {
                let client = testkit::http_client();
                while !stop.load(Ordering::SeqCst) {
                    match client.get(&url).send().await {
                        Ok(response) if response.status().is_success() => {
                            succeeded.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(response) => {
                            failures.lock().unwrap().push(response.status().to_string())
                        }
                        Err(error) => failures.lock().unwrap().push(error.to_string()),
                    }
                }
            })
        })
        .collect();
    testkit::poll_until(Duration::from_secs(10), "load to be flowing", || {
        let n = succeeded.load(Ordering::SeqCst);
        async move { (n >= 50).then_some(()) }
    })
    .await;

    let signalled = Instant::now();
    let before_signal = succeeded.load(Ordering::SeqCst);
    service.signal("TERM");
    let client = testkit::http_client();
    let ready_url = service.url("/ready");
    testkit::poll_until(Duration::from_secs(5), "/ready to answer 503", || {
        let request = client.get(&ready_url).send();
        async move { (request.await.ok()?.status().as_u16() == 503).then_some(()) }
    })
    .await;
    assert!(
        signalled.elapsed() < GRACE,
        "readiness must flip within the grace window"
    );

    testkit::poll_until(Duration::from_secs(5), "the load window to pass", || {
        let passed = signalled.elapsed() >= LOAD_WINDOW;
        async move { passed.then_some(()) }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    let during_grace = succeeded.load(Ordering::SeqCst) - before_signal;
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "requests failed during the grace window: {failures:?}"
    );
    assert!(
        during_grace > 0,
        "no request was served during the grace window"
    );
    eprintln!("{during_grace} requests served during the grace window, none failed");

    let deadline = GRACE + Duration::from_secs(TIMEOUT_SECONDS) + Duration::from_secs(5);
    let status = tokio::task::block_in_place(|| service.wait_exit(deadline));
    assert_eq!(status.code(), Some(0), "stdout:\n{}", service.stdout.text());
    eprintln!("exited 0 {:?} after SIGTERM", signalled.elapsed());
    // The pipe is read by a thread: poll until the last lines arrive.
    let stdout = service.stdout.clone();
    testkit::poll_until(
        Duration::from_secs(5),
        "`shutdown complete` on stdout",
        || {
            let text = stdout.text();
            async move { text.contains("shutdown complete").then_some(()) }
        },
    )
    .await;
    assert!(
        stdout.text().contains("shutdown signal received"),
        "{}",
        stdout.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let mut service = ServiceBuilder::new("gateway")
        .env("SHUTDOWN_GRACE_SECONDS", "3600")
        .spawn();
    service.wait_live().await;
    service.signal("TERM");
    service.wait_for_status("/ready", 503).await;
    // Still serving during the (long) grace period.
    service.wait_for_status("/live", 200).await;
    service.signal("INT");
    let status = tokio::task::block_in_place(|| service.wait_exit(Duration::from_secs(10)));
    assert_eq!(
        status.code(),
        Some(130),
        "stderr:\n{}",
        service.stderr.text()
    );
    let stderr = service.stderr.clone();
    testkit::poll_until(
        Duration::from_secs(5),
        "the forced-exit line on stderr",
        || {
            let seen = stderr.text().contains("second shutdown signal");
            async move { seen.then_some(()) }
        },
    )
    .await;
}
