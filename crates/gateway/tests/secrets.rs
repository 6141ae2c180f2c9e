//! A secret given to the gateway process (credentials in `LOKI_URL` and
//! `BACKEND_URL`, keys and cookies in request headers) reaches none of its
//! outputs: stdout (pretty and JSON), stderr, the Loki push, the exported
//! spans, `/health`; nor the one-line configuration errors of the
//! gateway and the backend.

use std::time::Duration;

use testkit::{ServiceBuilder, loki::LokiReceiver, otlp::OtlpReceiver, poll_until};

const SECRET: &str = "s3cr3t-Pq7vK";
const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reaches_no_output_of_the_running_gateway() {
    for format in ["pretty", "json"] {
        let loki = LokiReceiver::start().await;
        let otlp = OtlpReceiver::start().await;
        let loki_url = loki
            .url()
            .replacen("http://", &format!("http://logs:{SECRET}@"), 1);
        let dead_backend = format!("http://svc:{SECRET}@127.0.0.1:{}", testkit::free_port());
        let mut gateway = ServiceBuilder::new("gateway")
            .env("LOG_FORMAT", format)
            .env("LOKI_URL", &loki_url)
            .env("LOKI_BATCH_INTERVAL", "100ms")
            .env("BACKEND_URL", &dead_backend)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint())
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .spawn();
        gateway.wait_live().await;
        let client = testkit::http_client();
        let health = client
            .get(gateway.url("/health"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for path in ["/api/guilds/1", "/events"] {
            let _ = client
                .post(gateway.url(path))
                .header("authorization", format!("Bearer {SECRET}"))
                .header("proxy-authorization", format!("Basic {SECRET}"))
                .header("x-api-key", SECRET)
                .header("cookie", format!("session={SECRET}"))
                .body(format!(r#"{{"client_secret":"{SECRET}"}}"#))
                .send()
                .await
                .unwrap();
        }
        poll_until(DEADLINE, "the startup line in Loki", || {
            let found = loki
                .entries()
                .iter()
                .any(|entry| entry.line.contains("running on"));
            async move { found.then_some(()) }
        })
        .await;
        poll_until(DEADLINE, "a server span at the collector", || {
            let found = otlp.spans().iter().any(|span| span.kind == "server");
            async move { found.then_some(()) }
        })
        .await;
        gateway.signal("TERM");
        let status = gateway.wait_exit(DEADLINE);
        assert!(status.success(), "{format}: {status}");

        let stdout = gateway.stdout.text();
        let stderr = gateway.stderr.text();
        // The lines that used to quote the URLs are there, without them.
        assert!(stdout.contains("Logs shipped to Loki"), "{stdout}");
        assert!(stdout.contains("REDACTED:REDACTED@127.0.0.1"), "{stdout}");
        let outputs = [
            ("stdout", stdout),
            ("stderr", stderr),
            ("Loki", format!("{:?}", loki.entries())),
            ("OTLP", format!("{:?}", otlp.spans())),
            ("/health", health),
        ];
        for (output, text) in &outputs {
            assert!(
                !text.contains(SECRET),
                "{format}: {output} leaks the secret:\n{text}"
            );
        }
    }
}

#[test]
fn configuration_errors_never_echo_a_secret() {
    for (service, var, value) in [
        (
            "gateway",
            "BACKEND_URL",
            format!("ftp://svc:{SECRET}@backend"),
        ),
        (
            "gateway",
            "LOKI_URL",
            format!("http://logs:{SECRET}@loki:99999"),
        ),
        (
            "backend",
            "DATABASE_URL",
            format!("mysql://app:{SECRET}@db/app"),
        ),
        (
            "backend",
            "DATABASE_URL",
            format!("mysql://db/app?password={SECRET}"),
        ),
    ] {
        let (status, stderr) = testkit::run_to_exit(service, &[(var, value.as_str())]);
        assert_eq!(status.code(), Some(2), "{service} {var}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(var) && stderr.contains("REDACTED"),
            "{stderr}"
        );
        assert!(
            !stderr.contains(SECRET),
            "{service} {var} leaks the secret: {stderr}"
        );
    }
}
