//! `LOG_HASH_SALT` is required in production: each service, given every
//! other variable production needs, refuses to start without it, with one
//! stderr line naming it (the built-in salt is public, so its pseudonyms
//! could be reversed by hashing candidate ids).

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The other variables a production service requires (so only the salt is
/// missing).
const PRODUCTION: [(&str, &str); 4] = [
    ("ENVIRONMENT", "production"),
    ("GATEWAY_API_KEYS", "client-key,bot-key"),
    ("GATEWAY_API_KEY", "bot-key"),
    ("METRICS_TOKEN", "metrics-token"),
];

#[test]
fn every_service_refuses_production_without_a_hash_salt() {
    for service in ["backend", "gateway", "bot"] {
        let (status, stderr) = testkit::run_to_exit(service, &PRODUCTION);
        assert_eq!(status.code(), Some(2), "{service}: stderr:\n{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{service}: stderr:\n{stderr}");
        assert!(
            stderr.contains("LOG_HASH_SALT") && stderr.contains("production"),
            "{service}: stderr:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{service}: stderr:\n{stderr}");
    }
}

#[test]
fn staging_keeps_the_built_in_salt() {
    // The port is read after the telemetry settings: its error proves the
    // missing salt was accepted.
    let (status, stderr) = testkit::run_to_exit(
        "backend",
        &[("ENVIRONMENT", "staging"), ("PORT", "not-a-port")],
    );
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("PORT") && !stderr.contains("LOG_HASH_SALT"),
        "stderr:\n{stderr}"
    );
}
