//! Trace settings from the standard `OTEL_*` variables. Every error names
//! the variable it read (see [`crate::config`]).

use std::{fmt, str::FromStr, time::Duration};

use crate::{
    config::env::{ConfigError, Environment, http_url, parse_or, var},
    logging::loki::ByteSize,
    secrets::sanitize_url,
};

/// How spans leave the process (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `grpc`: the collector's port 4317.
    Grpc,
    /// `http/protobuf`: the collector's port 4318, `POST /v1/traces`.
    HttpProtobuf,
}

impl FromStr for OtlpProtocol {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            _ => Err("expected grpc or http/protobuf"),
        }
    }
}

/// Which traces are recorded (`OTEL_TRACES_SAMPLER` + `OTEL_TRACES_SAMPLER_ARG`).
///
/// Ids are generated and propagated whatever the sampler decides: an
/// unsampled span still has a trace id for the logs and for the next hop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerConfig {
    AlwaysOn,
    AlwaysOff,
    /// A fraction of root traces, in `[0, 1]`.
    TraceIdRatio(f64),
    /// Follow the caller's decision; for root spans, the inner sampler.
    ParentBased(ParentBasedRoot),
}

/// The decision a parent-based sampler takes for root spans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParentBasedRoot {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
}

// The ratio is validated finite in [0, 1] at parse time, so equality is total.
impl Eq for SamplerConfig {}

impl Default for SamplerConfig {
    /// The specification's default: `parentbased_always_on`.
    fn default() -> Self {
        Self::ParentBased(ParentBasedRoot::AlwaysOn)
    }
}

/// The root ratio production samples when `OTEL_TRACES_SAMPLER` is unset.
pub const PRODUCTION_RATIO: f64 = 0.1;

impl SamplerConfig {
    /// The sampler when `OTEL_TRACES_SAMPLER` is unset. Every environment
    /// follows the caller's decision (a trace is complete or absent);
    /// roots are all kept in development and staging, where traffic is
    /// low and every trace is worth looking at, and one in ten
    /// (`OTEL_TRACES_SAMPLER_ARG`, default [`PRODUCTION_RATIO`]) in
    /// production, where exporting every request's spans would cost more
    /// CPU than the rest of the telemetry together (docs/BENCHMARKS.md).
    /// Unsampled requests still get ids, in their logs and their
    /// `traceparent`, and build no span data for export.
    pub fn default_for(environment: Environment, ratio: Option<f64>) -> Self {
        match environment {
            Environment::Production => Self::ParentBased(ParentBasedRoot::TraceIdRatio(
                ratio.unwrap_or(PRODUCTION_RATIO),
            )),
            Environment::Development | Environment::Staging => Self::default(),
        }
    }

    /// Parses the sampler name and its optional ratio argument.
    fn parse(name: &str, ratio: Option<f64>) -> Result<Self, &'static str> {
        let ratio = ratio.unwrap_or(1.0);
        Ok(match name.to_ascii_lowercase().as_str() {
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            "traceidratio" => Self::TraceIdRatio(ratio),
            "parentbased_always_on" => Self::ParentBased(ParentBasedRoot::AlwaysOn),
            "parentbased_always_off" => Self::ParentBased(ParentBasedRoot::AlwaysOff),
            "parentbased_traceidratio" => Self::ParentBased(ParentBasedRoot::TraceIdRatio(ratio)),
            _ => {
                return Err(
                    "expected always_on, always_off, traceidratio, parentbased_always_on, \
                            parentbased_always_off or parentbased_traceidratio",
                );
            }
        })
    }
}

/// A sampling ratio: a finite number between 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ratio(f64);

impl FromStr for Ratio {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<f64>() {
            Ok(r) if r.is_finite() && (0.0..=1.0).contains(&r) => Ok(Self(r)),
            _ => Err("expected a number between 0 and 1"),
        }
    }
}

/// Queue and batch sizes of the span exporter (`OTEL_BSP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Spans waiting for export at most; more are dropped and counted.
    pub max_queue_size: usize,
    /// Bytes those spans may hold at most (`OTEL_BSP_MAX_QUEUE_BYTES`);
    /// a span that would exceed it is dropped and counted.
    pub max_queue_bytes: usize,
    /// Spans per export request at most.
    pub max_export_batch_size: usize,
    /// How long a span may wait before a partial batch is sent.
    pub schedule_delay: Duration,
    /// How long one export request may take (`OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub export_timeout: Duration,
}

/// 16 MiB: 2048 spans of 8 KiB, four times a typical server span's size
/// with every attribute at its bound.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// The smallest `OTEL_BSP_MAX_QUEUE_BYTES` accepted: room for a few spans
/// with every attribute at its bound.
pub const MIN_MAX_QUEUE_BYTES: usize = 64 * 1024;

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            max_export_batch_size: 512,
            schedule_delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(10_000),
        }
    }
}

/// Everything the tracer provider reads from the environment. `Debug`
/// shows the endpoint without its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct TraceConfig {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector; `None` = no export
    /// (ids still exist, propagate and reach the logs).
    pub endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    /// `OTEL_SERVICE_NAME`: overrides the service's own name.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs added to the resource.
    pub resource_attributes: Vec<(String, String)>,
    pub sampler: SamplerConfig,
    pub batch: BatchSettings,
    /// How long shutdown waits for the last export (`OTEL_SHUTDOWN_TIMEOUT`,
    /// milliseconds).
    pub shutdown_timeout: Duration,
}

/// `OTEL_SHUTDOWN_TIMEOUT` when unset (the Kubernetes shutdown budget,
/// infrastructure/k8s/check_timings.py, reads it from here).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(5000);

impl fmt::Debug for TraceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceConfig")
            .field("endpoint", &self.endpoint.as_deref().map(sanitize_url))
            .field("protocol", &self.protocol)
            .field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .field("sampler", &self.sampler)
            .field("batch", &self.batch)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            protocol: OtlpProtocol::HttpProtobuf,
            service_name: None,
            resource_attributes: Vec::new(),
            sampler: SamplerConfig::default(),
            batch: BatchSettings::default(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

impl TraceConfig {
    pub fn from_env(environment: Environment) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let ratio = match var("OTEL_TRACES_SAMPLER_ARG") {
            None => None,
            Some(raw) => Some(
                raw.trim()
                    .parse::<Ratio>()
                    .map_err(|reason| ConfigError::new("OTEL_TRACES_SAMPLER_ARG", &raw, reason))?,
            ),
        };
        let sampler = match var("OTEL_TRACES_SAMPLER") {
            None => SamplerConfig::default_for(environment, ratio.map(|r| r.0)),
            Some(raw) => SamplerConfig::parse(raw.trim(), ratio.map(|r| r.0))
                .map_err(|reason| ConfigError::new("OTEL_TRACES_SAMPLER", &raw, reason))?,
        };
        let batch = BatchSettings {
            max_queue_size: positive("OTEL_BSP_MAX_QUEUE_SIZE", defaults.batch.max_queue_size)?,
            max_queue_bytes: queue_bytes(defaults.batch.max_queue_bytes)?,
            max_export_batch_size: positive(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                defaults.batch.max_export_batch_size,
            )?,
            schedule_delay: millis("OTEL_BSP_SCHEDULE_DELAY", defaults.batch.schedule_delay)?,
            export_timeout: millis("OTEL_EXPORTER_OTLP_TIMEOUT", defaults.batch.export_timeout)?,
        };
        Ok(Self {
            endpoint: http_url("OTEL_EXPORTER_OTLP_ENDPOINT")?,
            protocol: parse_or("OTEL_EXPORTER_OTLP_PROTOCOL", defaults.protocol)?,
            service_name: var("OTEL_SERVICE_NAME").map(|name| name.trim().to_owned()),
            resource_attributes: match var("OTEL_RESOURCE_ATTRIBUTES") {
                None => Vec::new(),
                Some(raw) => parse_resource_attributes(&raw)
                    .map_err(|reason| ConfigError::new("OTEL_RESOURCE_ATTRIBUTES", &raw, reason))?,
            },
            sampler,
            batch,
            shutdown_timeout: millis("OTEL_SHUTDOWN_TIMEOUT", defaults.shutdown_timeout)?,
        })
    }
}

/// A count that must be at least 1.
fn positive(name: &str, default: usize) -> Result<usize, ConfigError> {
    let value: usize = parse_or(name, default)?;
    if value == 0 {
        return Err(ConfigError::new(
            name,
            "0",
            "expected a number greater than 0",
        ));
    }
    Ok(value)
}

/// `OTEL_BSP_MAX_QUEUE_BYTES`: a size (`16MiB`, `65536`), at least
/// [`MIN_MAX_QUEUE_BYTES`].
fn queue_bytes(default: usize) -> Result<usize, ConfigError> {
    const VAR: &str = "OTEL_BSP_MAX_QUEUE_BYTES";
    let ByteSize(bytes) = parse_or(VAR, ByteSize(default))?;
    if bytes < MIN_MAX_QUEUE_BYTES {
        return Err(ConfigError::new(
            VAR,
            &bytes.to_string(),
            "must be at least 64KiB",
        ));
    }
    Ok(bytes)
}

/// A duration written in milliseconds, as the `OTEL_*` variables are.
fn millis(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let default_ms = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    parse_or(name, default_ms).map(Duration::from_millis)
}

/// Parses `key1=value1,key2=value2` (values percent-decoded, as the
/// specification of `OTEL_RESOURCE_ATTRIBUTES` says).
pub fn parse_resource_attributes(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                format!("expected key=value pairs separated by commas, got {pair:?}")
            })?;
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("empty key in {pair:?}"));
            }
            Ok((key.to_owned(), percent_decode(value.trim())?))
        })
        .collect()
}

fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent escape in {value:?}"))?;
            decoded.push(hex);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("{value:?} is not UTF-8 once decoded"))
}

impl fmt::Display for OtlpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_parse_with_their_ratio() {
        assert_eq!(
            SamplerConfig::parse("parentbased_traceidratio", Some(0.25)),
            Ok(SamplerConfig::ParentBased(ParentBasedRoot::TraceIdRatio(
                0.25
            )))
        );
        assert_eq!(
            SamplerConfig::parse("TRACEIDRATIO", None),
            Ok(SamplerConfig::TraceIdRatio(1.0))
        );
        assert!(SamplerConfig::parse("sometimes", None).is_err());
        assert!("1.5".parse::<Ratio>().is_err());
        assert!("NaN".parse::<Ratio>().is_err());
        assert_eq!("0".parse::<Ratio>(), Ok(Ratio(0.0)));
    }

    #[test]
    fn production_samples_a_tenth_of_roots_by_default() {
        assert_eq!(
            SamplerConfig::default_for(Environment::Production, None),
            SamplerConfig::ParentBased(ParentBasedRoot::TraceIdRatio(PRODUCTION_RATIO))
        );
        assert_eq!(
            SamplerConfig::default_for(Environment::Production, Some(0.5)),
            SamplerConfig::ParentBased(ParentBasedRoot::TraceIdRatio(0.5))
        );
        assert_eq!(
            SamplerConfig::default_for(Environment::Development, None),
            SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn)
        );
    }

    #[test]
    fn protocols_are_the_two_standard_names() {
        assert_eq!("grpc".parse(), Ok(OtlpProtocol::Grpc));
        assert_eq!("http/protobuf".parse(), Ok(OtlpProtocol::HttpProtobuf));
        assert!("http/json".parse::<OtlpProtocol>().is_err());
    }

    #[test]
    fn resource_attributes_are_pairs_percent_decoded() {
        assert_eq!(
            parse_resource_attributes("team=core, k8s.pod.name=bot-0,note=a%2Cb"),
            Ok(vec![
                ("team".to_owned(), "core".to_owned()),
                ("k8s.pod.name".to_owned(), "bot-0".to_owned()),
                ("note".to_owned(), "a,b".to_owned()),
            ])
        );
        assert!(parse_resource_attributes("novalue").is_err());
        assert!(parse_resource_attributes("=x").is_err());
        assert!(parse_resource_attributes("k=%zz").is_err());
    }
}
