//! The tracer provider: resource, sampler, and (when an endpoint is set) the
//! bounded OTLP export.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{
    Resource,
    trace::{Sampler, SdkTracerProvider},
};

use super::{
    config::{OtlpProtocol, ParentBasedRoot, SamplerConfig, TraceConfig},
    export::{BoundedBatchProcessor, SpanQueue},
};
use crate::{ServiceInfo, config::Environment, logging::Redactor};

/// Errors while building the span exporter.
#[derive(Debug, thiserror::Error)]
pub enum TraceInitError {
    #[error("cannot build the OTLP span exporter for {endpoint}: {source}")]
    Exporter {
        endpoint: String,
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("the OTLP exporter needs a Tokio runtime: call init from inside one")]
    NoRuntime,
}

/// What the provider is built from: who we are and where spans go.
#[derive(Debug, Clone)]
pub struct ProviderSettings<'a> {
    pub service: ServiceInfo,
    pub environment: Environment,
    /// OTLP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); `None`: no export.
    pub endpoint: Option<&'a str>,
    pub config: &'a TraceConfig,
    /// The logging pipeline's redaction, applied to exported spans too.
    pub redactor: Redactor,
}

/// A built provider and, when exporting, the queue in front of the exporter.
#[derive(Debug, Clone)]
pub struct Provider {
    pub provider: SdkTracerProvider,
    pub queue: Option<Arc<SpanQueue>>,
}

/// Builds the provider. Without an endpoint it has no processor at all:
/// spans still get ids (sampling on), which propagate and reach the logs,
/// and nothing is buffered.
pub fn build(settings: &ProviderSettings<'_>) -> Result<Provider, TraceInitError> {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource(settings))
        // Sampling is decided when a span is created (`head`): what reaches
        // the provider is sampled.
        .with_sampler(Sampler::AlwaysOn);
    let mut queue = None;
    if let Some(endpoint) = settings.endpoint {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| TraceInitError::NoRuntime)?;
        let exporter =
            exporter(endpoint, settings.config).map_err(|source| TraceInitError::Exporter {
                endpoint: endpoint.to_owned(),
                source,
            })?;
        let processor = BoundedBatchProcessor::new(
            exporter,
            settings.config.batch,
            settings.redactor.clone(),
            runtime,
        );
        queue = Some(processor.queue());
        builder = builder.with_span_processor(processor);
    }
    Ok(Provider {
        provider: builder.build(),
        queue,
    })
}

fn exporter(
    endpoint: &str,
    config: &TraceConfig,
) -> Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError> {
    let endpoint = endpoint.trim_end_matches('/');
    let timeout = config.batch.export_timeout;
    match config.protocol {
        OtlpProtocol::HttpProtobuf => {
            // The crate's HTTP client (reqwest) is built with rustls and no
            // provider of its own.
            let _ = rustls::crypto::ring::default_provider().install_default();
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                // An explicit endpoint is used as is: add the signal path.
                .with_endpoint(format!("{endpoint}/v1/traces"))
                .with_timeout(timeout)
                .build()
        }
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(timeout)
            .build(),
    }
}

/// `service.name`, `service.version`, `deployment.environment.name`,
/// `host.name`; then `OTEL_RESOURCE_ATTRIBUTES` (which may override them);
/// then `OTEL_SERVICE_NAME`, which wins for the name (as the specification
/// says).
pub fn resource(settings: &ProviderSettings<'_>) -> Resource {
    let mut attributes = vec![
        KeyValue::new("service.name", settings.service.name),
        KeyValue::new("service.version", settings.service.version),
        KeyValue::new("deployment.environment.name", settings.environment.as_str()),
        KeyValue::new("host.name", host_name()),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.name", "opentelemetry"),
    ];
    attributes.extend(
        settings
            .config
            .resource_attributes
            .iter()
            .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
    );
    if let Some(name) = &settings.config.service_name {
        attributes.push(KeyValue::new("service.name", name.clone()));
    }
    // Later attributes win over earlier ones with the same key.
    Resource::builder_empty()
        .with_attributes(attributes)
        .build()
}

pub(crate) fn sampler(config: SamplerConfig) -> Sampler {
    match config {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        SamplerConfig::ParentBased(root) => Sampler::ParentBased(Box::new(match root {
            ParentBasedRoot::AlwaysOn => Sampler::AlwaysOn,
            ParentBasedRoot::AlwaysOff => Sampler::AlwaysOff,
            ParentBasedRoot::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        })),
    }
}

/// The host (the pod name in Kubernetes), without a dependency: `HOSTNAME`
/// when set, else the kernel's hostname.
fn host_name() -> String {
    crate::config::env::var("HOSTNAME")
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(config: &TraceConfig) -> ProviderSettings<'_> {
        ProviderSettings {
            service: ServiceInfo {
                name: "backend",
                version: "1.2.3",
            },
            environment: Environment::Staging,
            endpoint: None,
            config,
            redactor: Redactor::default(),
        }
    }

    fn attribute(resource: &Resource, key: &'static str) -> Option<String> {
        resource
            .get(&opentelemetry::Key::from_static_str(key))
            .map(|v| v.to_string())
    }

    #[test]
    fn resource_names_the_service_its_version_environment_and_host() {
        let config = TraceConfig::default();
        let resource = resource(&settings(&config));
        assert_eq!(
            attribute(&resource, "service.name").as_deref(),
            Some("backend")
        );
        assert_eq!(
            attribute(&resource, "service.version").as_deref(),
            Some("1.2.3")
        );
        assert_eq!(
            attribute(&resource, "deployment.environment.name").as_deref(),
            Some("staging")
        );
        assert!(attribute(&resource, "host.name").is_some());
    }

    #[test]
    fn otel_service_name_wins_over_resource_attributes() {
        let config = TraceConfig {
            service_name: Some("api".to_owned()),
            resource_attributes: vec![
                ("service.name".to_owned(), "ignored".to_owned()),
                ("team".to_owned(), "core".to_owned()),
            ],
            ..TraceConfig::default()
        };
        let resource = resource(&settings(&config));
        assert_eq!(attribute(&resource, "service.name").as_deref(), Some("api"));
        assert_eq!(attribute(&resource, "team").as_deref(), Some("core"));
    }

    #[test]
    fn without_endpoint_there_is_no_queue() {
        let config = TraceConfig::default();
        let provider = build(&settings(&config)).unwrap();
        assert!(provider.queue.is_none());
    }
}
