//! Tempo: ready, and one span exported through telemetry's own OTLP
//! pipeline (the services' exporter, protocol and endpoint) then read back
//! by trace id from Tempo's query API (`/api/traces/<id>`, protobuf).

use std::time::{Duration, Instant};

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost_otlp::Message as _;
use telemetry::{
    ServiceInfo,
    trace::{ProviderSettings, Tracing, config::SamplerConfig},
};

use super::links;
use crate::{
    config::DoctorConfig,
    probe::{Probe, seconds, unreachable},
    report::{Check, Group, Hint},
};

const SERVICE: ServiceInfo = ServiceInfo {
    name: "doctor",
    version: env!("CARGO_PKG_VERSION"),
};

pub async fn check(probe: &Probe, config: &DoctorConfig) -> Vec<Check> {
    let tempo = &config.tempo;
    let ready = match probe.get(&tempo.join("/ready")).await {
        Ok(answer) if answer.status == 200 => Ok(Check::pass(
            Group::Traces,
            "Tempo /ready",
            format!("ready in {}", seconds(answer.elapsed)),
        )),
        Ok(answer) => Ok(Check::fail(
            Group::Traces,
            "Tempo /ready",
            format!("answered {}: {}", answer.status, answer.body_line()),
            Hint::new(
                format!(
                    "Tempo is starting (about 15 s) or {} is not Tempo's query port (3200): wait, or fix {}",
                    tempo.url, tempo.var
                ),
                links::TRACES,
            ),
        )),
        Err(error) => Err(unreachable(
            Group::Traces,
            "Tempo",
            tempo,
            &error,
            links::TRACES,
        )),
    };
    let Some(endpoint) = &config.otlp_endpoint else {
        let mut checks = vec![ready.unwrap_or_else(|check| check)];
        checks.push(Check::skip(
            Group::Traces,
            "span export",
            "not configured: OTEL_EXPORTER_OTLP_ENDPOINT is empty (spans are not exported)",
            Hint::new(
                "start the stack with `make stack-up`, then set OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 in .env",
                links::TRACES,
            ),
        ));
        return checks;
    };
    let tempo_answers = ready
        .as_ref()
        .is_ok_and(|check| check.status == crate::report::Status::Pass);
    let mut checks = vec![ready.unwrap_or_else(|check| check)];
    let started = Instant::now();
    let trace_id = match export_one_span(config, endpoint).await {
        Ok(trace_id) => trace_id,
        Err(error) => {
            checks.push(Check::fail(
                Group::Traces,
                "span export",
                format!("export to {endpoint} failed: {error}"),
                Hint::new(
                    "nothing accepts OTLP at OTEL_EXPORTER_OTLP_ENDPOINT: `make stack-up` (4318 for http/protobuf, 4317 for grpc, as OTEL_EXPORTER_OTLP_PROTOCOL says)",
                    links::TRACES,
                ),
            ));
            return checks;
        }
    };
    if !tempo_answers {
        checks.push(Check::pass(
            Group::Traces,
            "span export",
            format!(
                "exported to {endpoint} in {} (not read back: Tempo does not answer)",
                seconds(started.elapsed())
            ),
        ));
        return checks;
    }
    checks.push(read_back(probe, config, endpoint, &trace_id, started).await);
    checks
}

/// Exports one span through the services' pipeline, sampled whatever
/// `OTEL_TRACES_SAMPLER` says, and returns its trace id (hex).
async fn export_one_span(config: &DoctorConfig, endpoint: &str) -> Result<String, String> {
    let mut trace_config = config.tracing.clone();
    trace_config.sampler = SamplerConfig::AlwaysOn;
    trace_config.batch.export_timeout = config.timeout;
    let environment = config.environment;
    let endpoint = endpoint.to_owned();
    // The SDK's flush blocks: on a blocking thread, with the runtime's
    // handle for the exporter's client.
    let work = tokio::task::spawn_blocking(move || {
        let tracing = Tracing::build(&ProviderSettings {
            service: SERVICE,
            environment,
            endpoint: Some(&endpoint),
            config: &trace_config,
            redactor: telemetry::logging::Redactor::default(),
        })
        .map_err(|error| error.to_string())?;
        let provider = tracing.provider().clone();
        let tracer = provider.tracer("doctor");
        let mut span = tracer.start("make doctor probe");
        let trace_id = span.span_context().trace_id().to_string();
        span.end();
        drop(span);
        let flushed = provider.force_flush().map_err(|error| error.to_string());
        let _ = provider.shutdown();
        flushed.map(|()| trace_id)
    });
    match tokio::time::timeout(config.timeout + Duration::from_secs(1), work).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(join.to_string()),
        Err(_) => Err(format!("no answer within {}", seconds(config.timeout))),
    }
}

async fn read_back(
    probe: &Probe,
    config: &DoctorConfig,
    endpoint: &str,
    trace_id: &str,
    started: Instant,
) -> Check {
    const NAME: &str = "span export + read back";
    let url = config.tempo.join(&format!("/api/traces/{trace_id}"));
    let deadline = started + config.timeout + Duration::from_secs(1);
    let mut pause = Duration::from_millis(100);
    let mut last;
    loop {
        let request = probe
            .client()
            .get(&url)
            .header("accept", "application/protobuf");
        match probe.send_bytes(request).await {
            Ok((200, body)) => match TracesData::decode(body.as_slice()) {
                Ok(trace) if contains(&trace, trace_id) => {
                    return Check::pass(
                        Group::Traces,
                        NAME,
                        format!(
                            "trace {trace_id} read back in {}",
                            seconds(started.elapsed())
                        ),
                    );
                }
                Ok(_) => last = "answered without the span".to_owned(),
                Err(error) => last = format!("not a protobuf trace: {error}"),
            },
            Ok((status, _)) => last = format!("answered {status}"),
            Err(error) => last = error.to_string(),
        }
        if Instant::now() + pause > deadline {
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(400));
    }
    Check::fail(
        Group::Traces,
        NAME,
        format!(
            "exported, but {url} did not return it within {}: {last}",
            seconds(started.elapsed())
        ),
        Hint::new(
            format!(
                "the span left for {endpoint} but this Tempo does not have it: OTEL_EXPORTER_OTLP_ENDPOINT and TEMPO_URL point at different stacks, or a collector in between does not forward"
            ),
            links::TRACES,
        ),
    )
}

fn contains(trace: &TracesData, trace_id: &str) -> bool {
    trace.resource_spans.iter().any(|resource| {
        resource.scope_spans.iter().any(|scope| {
            scope.spans.iter().any(|span| {
                span.trace_id
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    == trace_id
            })
        })
    })
}
