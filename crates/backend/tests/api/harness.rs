//! Builds the backend's router in-process over a fresh database.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use backend::{AppState, app, store::Store};
use http_body_util::BodyExt;
use serde_json::Value;
use telemetry::{Ops, OpsConfig};
use testkit::postgres::PgCluster;
use tower::ServiceExt;

pub struct TestApp {
    pub store: Store,
    router: Router,
    sqlite_file: Option<PathBuf>,
}

impl TestApp {
    pub async fn sqlite() -> Self {
        Self::sqlite_with_timeout(Duration::from_secs(10)).await
    }

    pub async fn sqlite_with_timeout(timeout: Duration) -> Self {
        static FILES: AtomicU32 = AtomicU32::new(0);
        let file = std::env::temp_dir().join(format!(
            "backend-api-{}-{}.db",
            std::process::id(),
            FILES.fetch_add(1, Ordering::Relaxed)
        ));
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let mut app = Self::connect(&url, timeout).await;
        app.sqlite_file = Some(file);
        app
    }

    pub async fn postgres(cluster: &PgCluster) -> Self {
        Self::connect(&cluster.create_database(), Duration::from_secs(10)).await
    }

    async fn connect(url: &str, timeout: Duration) -> Self {
        let store = Store::connect(url, 5)
            .await
            .unwrap_or_else(|error| panic!("connect {url}: {error}"));
        let router = app::router(
            AppState {
                store: store.clone(),
                // A test may ask for a slow or failing request (`X-Demo-Fault`);
                // no other test sends the header.
                demo_faults: true,
            },
            &Ops::new(backend::SERVICE, &OpsConfig::default()),
            timeout,
        );
        Self {
            store,
            router,
            sqlite_file: None,
        }
    }

    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Sends a request and returns the status and the body, which must be
    /// JSON whatever the status.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let what = format!("{} {}", request.method(), request.uri());
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{what} -> {status}: body is not JSON ({content_type:?}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "{what} -> {status}"
        );
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn json(&self, method: Method, path: &str, body: &Value) -> (StatusCode, Value) {
        self.raw(method, path, "application/json", body.to_string())
            .await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.json(Method::POST, path, body).await
    }

    /// A JSON POST with an `Idempotency-Key`.
    pub async fn post_keyed(&self, path: &str, body: &Value, key: &str) -> (StatusCode, Value) {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key)
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.json(Method::PUT, path, body).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

/// Asserts a 4xx JSON error with `code` naming `field`.
#[track_caller]
pub fn assert_error(response: &(StatusCode, Value), status: u16, code: &str, field: Option<&str>) {
    let (actual, body) = response;
    assert_eq!(actual.as_u16(), status, "body: {body}");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
    match field {
        Some(field) => assert_eq!(body["error"]["field"], field, "body: {body}"),
        None => assert!(body["error"]["field"].is_null(), "body: {body}"),
    }
}
