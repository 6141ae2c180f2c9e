//! Reads samples out of a Prometheus text exposition (a service's
//! `/metrics`): enough for counters and gauges, which is what the doctor
//! reads.

/// One sample: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Every sample of the series `name` (exactly that name, any labels).
pub fn samples(text: &str, name: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, rest) = match rest.strip_prefix('{') {
                Some(inner) => {
                    let close = inner.rfind('}')?;
                    (parse_labels(&inner[..close]), &inner[close + 1..])
                }
                None if rest.starts_with(' ') => (Vec::new(), rest),
                None => return None,
            };
            let value = rest.split_whitespace().next()?.parse().ok()?;
            Some(Sample { labels, value })
        })
        .collect()
}

/// The sum of every sample of `name`; `None` when the series is absent.
pub fn sum(text: &str, name: &str) -> Option<f64> {
    let samples = samples(text, name);
    (!samples.is_empty()).then(|| samples.iter().map(|s| s.value).sum())
}

fn parse_labels(inner: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() || chars.next() != Some('"') {
            return labels;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => {}
                },
                '"' => break,
                other => value.push(other),
            }
        }
        labels.push((name.trim().to_owned(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP telemetry_log_events_dropped_total Log events dropped
# TYPE telemetry_log_events_dropped_total counter
telemetry_log_events_dropped_total{reason=\"buffer_full\"} 3
telemetry_log_events_dropped_total{reason=\"rejected\",note=\"a\\\"b\"} 2
telemetry_log_buffer_bytes 1024
telemetry_log_buffer_bytes_max 9
";

    #[test]
    fn counters_with_labels_and_plain_gauges_are_read() {
        let dropped = samples(TEXT, "telemetry_log_events_dropped_total");
        assert_eq!(dropped.len(), 2);
        assert_eq!(dropped[0].label("reason"), Some("buffer_full"));
        assert_eq!(dropped[1].label("note"), Some("a\"b"));
        assert_eq!(sum(TEXT, "telemetry_log_events_dropped_total"), Some(5.0));
        assert_eq!(sum(TEXT, "telemetry_log_buffer_bytes"), Some(1024.0));
        assert_eq!(sum(TEXT, "absent_total"), None);
    }
}
