//! Process metrics with the names every Prometheus client uses
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), read
//! from `/proc` at each scrape: `prometheus-client` has no process
//! collector, and the dashboards and alerts rely on these names.

use std::sync::Once;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
};

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, fixed at
/// 100 by the Linux user-space ABI on every architecture Linux ships.
const TICKS_PER_SECOND: f64 = 100.0;

/// Registers the process collector (once per process; on a system without
/// `/proc`, scrapes simply carry no process metrics).
pub fn register_process_metrics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        super::registry::register_collector("process_cpu_seconds_total", ProcessCollector);
    });
}

#[derive(Debug)]
struct ProcessCollector;

/// One reading of `/proc/self`; a field that cannot be read is absent.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Reading {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub threads: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

impl Reading {
    fn now() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let mut reading = Self::default();
        if let Some(stat) = read("/proc/self/stat") {
            let boot_time = read("/proc/stat").as_deref().and_then(boot_time);
            parse_stat(&stat, boot_time, &mut reading);
        }
        if let Some(status) = read("/proc/self/status") {
            reading.resident_bytes = status_kib(&status, "VmRSS:").map(|kib| kib * 1024.0);
        }
        reading.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|dir| dir.count() as f64);
        reading.max_fds = read("/proc/self/limits")
            .as_deref()
            .and_then(max_open_files);
        reading
    }
}

/// `/proc/self/stat`: the fields after the parenthesised command name
/// (which may itself contain spaces and parentheses).
fn parse_stat(stat: &str, boot_time: Option<f64>, reading: &mut Reading) {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return;
    };
    // `rest` starts at field 3 (state): field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        reading.cpu_seconds = Some((utime + stime) / TICKS_PER_SECOND);
    }
    reading.threads = field(20);
    reading.virtual_bytes = field(23);
    if let (Some(start), Some(boot)) = (field(22), boot_time) {
        reading.start_time_seconds = Some(boot + start / TICKS_PER_SECOND);
    }
}

fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

fn status_kib(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let reading = Reading::now();
        if let Some(seconds) = reading.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                counter.metric_type(),
            )?;
            counter.encode(metric)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                reading.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                reading.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                reading.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                reading.max_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                reading.start_time_seconds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                reading.threads,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
                gauge.encode(metric)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        // A command name with a space and a parenthesis, as a thread may have.
        let stat = "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 1000 123456789 2048 18446744073709551615";
        let mut reading = Reading::default();
        parse_stat(stat, Some(1_700_000_000.0), &mut reading);
        assert_eq!(reading.cpu_seconds, Some(3.0));
        assert_eq!(reading.threads, Some(7.0));
        assert_eq!(reading.start_time_seconds, Some(1_700_000_010.0));
        assert_eq!(reading.virtual_bytes, Some(123_456_789.0));
    }

    #[test]
    fn limits_and_status_are_parsed() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024.0));
        assert_eq!(
            status_kib("Name:\tx\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2048.0)
        );
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000.0)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_every_reading() {
        let reading = Reading::now();
        assert!(reading.cpu_seconds.is_some_and(|v| v >= 0.0));
        assert!(reading.resident_bytes.is_some_and(|v| v > 0.0));
        assert!(reading.open_fds.is_some_and(|v| v > 0.0));
        assert!(reading.max_fds.is_some_and(|v| v > 0.0));
        assert!(reading.threads.is_some_and(|v| v >= 1.0));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let start = reading.start_time_seconds.unwrap_or_default();
        assert!(
            start > now - 86_400.0 * 30.0 && start <= now + 1.0,
            "{start} vs {now}"
        );
    }
}
