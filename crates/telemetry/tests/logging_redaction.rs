//! No generated secret under a sensitive key ever reaches an output: pretty
//! console, JSON console, or Loki (through the in-test receiver).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use proptest::prelude::*;
use telemetry::{
    ServiceInfo,
    config::Environment,
    logging::{
        CapturedOutput, ConsoleLayer, ConsoleStyle, REDACTED, Redactor, ServiceMeta,
        loki::{self, LokiConfig},
    },
};
use testkit::loki::LokiReceiver;
use tracing_subscriber::layer::SubscriberExt;

/// Field names are static in `tracing` macros: one call per sensitive name.
fn emit_under_key(which: usize, secret: &str) {
    match which {
        0 => tracing::info!(password = secret, "login"),
        1 => tracing::info!(passwd = secret, "login"),
        2 => tracing::info!(secret = %secret, "config"),
        3 => tracing::info!(token = ?secret, "auth"),
        4 => tracing::info!(api_key = secret, "client"),
        5 => tracing::info!(apiKey = secret, "client"),
        6 => tracing::info!(authorization = secret, "request"),
        7 => tracing::info!(cookie = secret, "request"),
        8 => tracing::info!("set-cookie" = secret, "response"),
        9 => tracing::info!(credit_card = secret, "payment"),
        10 => tracing::info!(refresh_token = secret, "oauth"),
        11 => tracing::info!(CLIENT_SECRET = secret, "oauth"),
        12 => tracing::info!(ssn = secret, "extra key from LOG_REDACT_KEYS"),
        13 => {
            let span = tracing::info_span!("request", authorization = secret);
            let _entered = span.enter();
            tracing::info!("inside a span holding the secret");
        }
        _ => unreachable!(),
    }
}

const KEYS: &[&str] = &[
    "password",
    "Password",
    "TOKEN",
    "api_key",
    "apiKey",
    "authorization",
    "Cookie",
    "set-cookie",
    "credit_card",
    "access_token",
    "webhook_secret",
    "ssn",
];

/// A JSON document with a sensitive key at some depth.
fn nested_json(key: &str, secret: &str, depth: usize) -> String {
    let mut doc = serde_json::json!({ key: secret, "visible": "ok" });
    for level in 0..depth {
        doc = if level % 2 == 0 {
            serde_json::json!({ "wrapper": doc, "n": level })
        } else {
            serde_json::json!([doc, 1])
        };
    }
    doc.to_string()
}

#[test]
fn secrets_never_reach_console_json_or_loki() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime.block_on(LokiReceiver::start());
    let meta = Arc::new(ServiceMeta::with_host(
        ServiceInfo {
            name: "backend",
            version: "1.2.3",
        },
        Environment::Development,
        "testhost",
        42,
    ));
    let redactor = Redactor::new(&["ssn".to_owned()]);
    let pretty = CapturedOutput::new();
    let json = CapturedOutput::new();
    let config = LokiConfig {
        batch_interval: Duration::from_millis(50),
        ..LokiConfig::default()
    };
    let (loki_layer, shipper) = loki::start(
        &receiver.url(),
        &config,
        Arc::clone(&meta),
        redactor.clone(),
        Arc::new(|_, message| eprintln!("shipper: {message}")),
    )
    .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(ConsoleLayer::new(
            pretty.clone(),
            ConsoleStyle::Pretty { color: true },
            Arc::clone(&meta),
            redactor.clone(),
        ))
        .with(ConsoleLayer::new(
            json.clone(),
            ConsoleStyle::Json,
            Arc::clone(&meta),
            redactor,
        ))
        .with(loki_layer);

    let secrets = Arc::new(Mutex::new(Vec::new()));
    let emitted = Arc::new(Mutex::new(0_usize));
    tracing::subscriber::with_default(subscriber, || {
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(
                &("[A-Za-z0-9]{10,24}", 0..14_usize, 0..KEYS.len(), 0..4_usize),
                |(suffix, which, key, depth)| {
                    // A prefix no other text contains, so a leak cannot hide.
                    let secret = format!("S3CR3T{suffix}");
                    let pretty_before = pretty.text().len();
                    let json_before = json.text().len();
                    emit_under_key(which, &secret);
                    tracing::info!(
                        payload = nested_json(KEYS[key], &secret, depth).as_str(),
                        "nested"
                    );
                    *emitted.lock().unwrap() += 2;
                    let new_pretty = &pretty.text()[pretty_before..];
                    let new_json = &json.text()[json_before..];
                    prop_assert!(!new_pretty.contains(&secret), "pretty leaked: {new_pretty}");
                    prop_assert!(!new_json.contains(&secret), "json leaked: {new_json}");
                    prop_assert!(new_json.contains(REDACTED));
                    prop_assert!(
                        new_json.contains("\\\"visible\\\":\\\"ok\\\""),
                        "the rest stays: {new_json}"
                    );
                    secrets.lock().unwrap().push(secret);
                    Ok(())
                },
            )
            .unwrap();
    });
    let emitted = *emitted.lock().unwrap();
    let entries = runtime.block_on(receiver.wait_for_entries(emitted, Duration::from_secs(60)));
    runtime.block_on(shipper.shutdown()).unwrap();
    assert_eq!(entries.len(), emitted);
    let secrets = secrets.lock().unwrap();
    for entry in &entries {
        for secret in secrets.iter() {
            assert!(
                !entry.line.contains(secret.as_str()),
                "Loki leaked {secret}: {}",
                entry.line
            );
        }
    }
    assert!(entries.iter().any(|e| e.line.contains(REDACTED)));
}
