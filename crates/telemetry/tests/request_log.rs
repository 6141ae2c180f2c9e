//! The HTTP layer's completion log line: exactly one per request, with its
//! fields, at the level its status and route call for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Body, http::Request, http::StatusCode, routing::get};
use tower::ServiceExt;
use tracing::{Level, field::Field};
use tracing_subscriber::{Layer, layer::SubscriberExt};

#[derive(Debug, Clone)]
struct Event {
    level: Level,
    fields: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Event>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Event {
            level: *event.metadata().level(),
            fields,
        });
    }
}

fn app() -> Router {
    Router::new()
        .route("/ok/{id}", get(|| async { "ok" }))
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/live", get(|| async { "alive" }))
        .layer(telemetry::http::layer())
}

/// The completion lines logged while serving `request`.
async fn completion_lines(request: Request<Body>) -> Vec<Event> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    app().oneshot(request).await.unwrap();
    let events = capture.0.lock().unwrap().clone();
    events
        .into_iter()
        .filter(|e| {
            e.fields
                .get("message")
                .is_some_and(|m| m.starts_with("completed in "))
        })
        .collect()
}

fn get_req(path: &str) -> Request<Body> {
    Request::get(path)
        .header("x-request-id", "rid-7")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn one_line_with_every_field() {
    let lines = completion_lines(get_req("/ok/123")).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line.level, Level::INFO);
    let f = &line.fields;
    assert_eq!(f["context"], "HTTP");
    assert_eq!(f["method"], "GET");
    assert_eq!(f["route"], "/ok/{id}");
    assert_eq!(f["status"], "200");
    assert_eq!(f["request_id"], "rid-7");
    let duration: u64 = f["duration_ms"].parse().unwrap();
    assert_eq!(f["message"], format!("completed in {duration}ms"));
}

#[tokio::test]
async fn levels_follow_status_and_probe_routes() {
    let level = |lines: Vec<Event>| {
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines[0].level
    };
    assert_eq!(
        level(completion_lines(get_req("/boom")).await),
        Level::ERROR
    );
    assert_eq!(
        level(completion_lines(get_req("/missing")).await),
        Level::WARN
    );
    assert_eq!(
        level(completion_lines(get_req("/live")).await),
        Level::DEBUG
    );
    let lines = completion_lines(get_req("/missing")).await;
    assert_eq!(lines[0].fields["route"], "unmatched");
}
