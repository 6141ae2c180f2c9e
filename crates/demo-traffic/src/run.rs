//! Sends the planned requests at the requested rate and records the outcomes.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::Semaphore, task::JoinSet, time::MissedTickBehavior};

use crate::{
    args::Args,
    plan::{Planned, Planner},
    report::{Outcome, Recorder, Summary},
};

/// Requests in flight at most; beyond, a tick is skipped (and counted) rather
/// than piling up tasks against a stalled gateway.
const MAX_IN_FLIGHT: usize = 256;
/// Longer than any request the gateway should let through (its own upstream
/// timeout answers first).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct RunError(#[from] reqwest::Error);

/// Runs for `args.duration`, calling `on_progress` about once a second.
pub async fn run(
    args: &Args,
    mut on_progress: impl FnMut(&Summary) + Send + 'static,
) -> Result<Summary, RunError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    let recorder = Arc::new(Recorder::default());
    let started = Instant::now();

    let progress = {
        let recorder = recorder.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                on_progress(&recorder.summary(started.elapsed()));
            }
        })
    };

    let total = (args.rate * args.duration.as_secs_f64()).round().max(1.0) as u64;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    // Catch up after a stall so the run sends `rate × duration` requests.
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut planner =
        Planner::new(args.seed, args.guilds).with_upstream_timeout(args.upstream_timeout);
    let mut tasks = JoinSet::new();
    for _ in 0..total {
        tick.tick().await;
        let planned = planner.next_request();
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            recorder.skip();
            continue;
        };
        let (client, recorder) = (client.clone(), recorder.clone());
        let (url, key) = (args.gateway_url.clone(), args.api_key.clone());
        tasks.spawn(async move {
            let started = Instant::now();
            let outcome = send(&client, &url, &key, &planned).await;
            recorder.record(&planned, outcome, started.elapsed());
            drop(permit);
        });
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    progress.abort();
    Ok(recorder.summary(started.elapsed()))
}

async fn send(client: &reqwest::Client, base: &str, key: &str, planned: &Planned) -> Outcome {
    let method = match planned.method {
        "POST" => reqwest::Method::POST,
        "PUT" => reqwest::Method::PUT,
        _ => reqwest::Method::GET,
    };
    let mut request = client
        .request(method, format!("{base}{}", planned.path))
        .bearer_auth(key);
    if let Some(fault) = &planned.fault {
        request = request.header("x-demo-fault", fault);
    }
    if let Some(body) = &planned.body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    match request.send().await {
        // Read the body so the latency covers the whole answer.
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            Outcome::Status(status)
        }
        Err(error) if error.is_timeout() => Outcome::Failed("timeout"),
        Err(error) if error.is_connect() => Outcome::Failed("connect"),
        Err(_) => Outcome::Failed("other"),
    }
}
