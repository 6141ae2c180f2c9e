//! Rendering a [`Record`]: the JSON line (console in production and every
//! Loki line) and the pretty console line (development).

use std::{
    fmt::Write as _,
    time::{SystemTime, UNIX_EPOCH},
};

use tracing::Level;

use super::record::{FieldValue, Record, level_name};
use crate::{ServiceInfo, config::Environment};

/// Who writes the lines: the constant part of every JSON object.
#[derive(Debug, Clone)]
pub struct ServiceMeta {
    pub name: &'static str,
    pub environment: Environment,
    /// `,"service":…,"version":…,"hostname":…,"pid":…`, escaped once.
    json_meta: String,
    badge: String,
    badge_colored: String,
}

impl ServiceMeta {
    pub fn new(service: ServiceInfo, environment: Environment) -> Self {
        Self::for_host(service, environment, &hostname(), std::process::id())
    }

    /// With an explicit host and pid (tests pin them).
    #[cfg(any(test, feature = "test-support"))]
    pub fn with_host(
        service: ServiceInfo,
        environment: Environment,
        hostname: &str,
        pid: u32,
    ) -> Self {
        Self::for_host(service, environment, hostname, pid)
    }

    fn for_host(service: ServiceInfo, environment: Environment, hostname: &str, pid: u32) -> Self {
        let mut json_meta = String::from(",\"service\":");
        write_json_str(&mut json_meta, service.name);
        json_meta.push_str(",\"version\":");
        write_json_str(&mut json_meta, service.version);
        json_meta.push_str(",\"hostname\":");
        write_json_str(&mut json_meta, hostname);
        let _ = write!(json_meta, ",\"pid\":{pid}");
        let badge_colored = badge(service.name, true);
        let badge = badge(service.name, false);
        Self {
            name: service.name,
            environment,
            json_meta,
            badge,
            badge_colored,
        }
    }
}

/// The host name, without a libc call: the kernel's, else `$HOSTNAME`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `[BACKEND]`, on the service's background colour when `color`.
pub fn badge(name: &str, color: bool) -> String {
    let plain = format!("[{}]", name.to_uppercase());
    if color {
        format!("\x1b[{};97m{plain}\x1b[0m", badge_background(name))
    } else {
        plain
    }
}

/// ANSI background of the badge: the guide's colours for the three apps, a
/// stable one (from the name) for any other.
pub fn badge_background(name: &str) -> u8 {
    match name {
        "backend" => 44,
        "gateway" => 42,
        "bot" => 45,
        other => {
            const OTHERS: [u8; 4] = [41, 43, 46, 100];
            let hash = other.bytes().fold(2_166_136_261_u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(16_777_619)
            });
            OTHERS[hash as usize % OTHERS.len()]
        }
    }
}

fn level_color(level: Level) -> &'static str {
    match level {
        Level::ERROR => "31",
        Level::WARN => "33",
        Level::INFO => "32",
        Level::DEBUG => "34",
        Level::TRACE => "2",
    }
}

/// Keys of the JSON header; an event field with one of these names is
/// written as `field_<name>` so the object never repeats a key.
const RESERVED: &[&str] = &[
    "timestamp",
    "level",
    "message",
    "context",
    "service",
    "version",
    "hostname",
    "pid",
    "trace_id",
    "span_id",
];

/// Appends the JSON object of `record` (no newline).
pub fn render_json(record: &Record, meta: &ServiceMeta, out: &mut String) {
    out.push_str("{\"timestamp\":\"");
    write_rfc3339_millis(out, record.time);
    out.push_str("\",\"level\":\"");
    out.push_str(level_name(record.level));
    out.push_str("\",\"message\":");
    write_json_str(out, &record.message);
    out.push_str(",\"context\":");
    write_json_str(out, &record.context);
    out.push_str(&meta.json_meta);
    if let Some(trace) = &record.trace {
        out.push_str(",\"trace_id\":\"");
        out.push_str(trace.trace_id());
        out.push_str("\",\"span_id\":\"");
        out.push_str(trace.span_id());
        out.push('"');
    }
    for (key, value) in &record.fields {
        out.push(',');
        if RESERVED.contains(key) {
            out.push_str("\"field_");
            out.push_str(key);
            out.push('"');
        } else {
            write_json_str(out, key);
        }
        out.push(':');
        write_json_value(out, value);
    }
    out.push('}');
}

/// Appends the pretty console line of `record` (no newline):
/// `04:40:44 [BACKEND] info [Bootstrap] message  key=value …`.
pub fn render_pretty(record: &Record, meta: &ServiceMeta, color: bool, out: &mut String) {
    let local: chrono::DateTime<chrono::Local> = record.time.into();
    let _ = write!(out, "{} ", local.format("%H:%M:%S"));
    let level = level_name(record.level);
    if color {
        out.push_str(&meta.badge_colored);
        let _ = write!(out, " \x1b[{}m{level}\x1b[0m", level_color(record.level));
    } else {
        out.push_str(&meta.badge);
        out.push(' ');
        out.push_str(level);
    }
    out.push_str(" [");
    write_escaped_text(out, &record.context);
    out.push_str("] ");
    write_escaped_text(out, &record.message);
    if !record.fields.is_empty() || record.trace.is_some() {
        out.push(' ');
    }
    for (key, value) in &record.fields {
        out.push(' ');
        out.push_str(key);
        out.push('=');
        write_pretty_value(out, value);
    }
    if let Some(trace) = &record.trace {
        out.push_str(" trace=");
        out.push_str(trace.short_trace_id());
    }
}

fn write_pretty_value(out: &mut String, value: &FieldValue) {
    let Some(text) = value.as_text() else {
        return write_json_value(out, value);
    };
    let plain = !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
    if plain {
        out.push_str(text);
    } else {
        write_json_str(out, text);
    }
}

fn write_json_value(out: &mut String, value: &FieldValue) {
    match value {
        FieldValue::Str(text) => write_json_str(out, text),
        FieldValue::Shared(text) => write_json_str(out, text.as_str()),
        FieldValue::I64(v) => out.push_str(itoa::Buffer::new().format(*v)),
        FieldValue::U64(v) => out.push_str(itoa::Buffer::new().format(*v)),
        FieldValue::F64(v) if v.is_finite() => {
            let _ = write!(out, "{v}");
        }
        // JSON has no NaN or infinity: keep the information as text.
        FieldValue::F64(v) => write_json_str(out, &v.to_string()),
        FieldValue::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
    }
}

/// Appends `text` as a JSON string literal. Beyond what JSON requires
/// (`"`, `\\`, U+0000–U+001F), DEL, the C1 controls (U+0080–U+009F: U+009B
/// is a terminal's CSI) and the line/paragraph separators U+2028/U+2029
/// are escaped too, so a line printed on a terminal cannot drive it.
pub fn write_json_str(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // One table load per byte: this loop runs over every log line.
        let (escape, len): (&str, usize) = match JSON_ESCAPE[usize::from(bytes[i])] {
            0 => {
                i += 1;
                continue;
            }
            b'"' => ("\\\"", 1),
            b'\\' => ("\\\\", 1),
            b'n' => ("\\n", 1),
            b'r' => ("\\r", 1),
            b't' => ("\\t", 1),
            b'u' => ("", 1),
            _ => match unsafe_char_len(&bytes[i..]) {
                0 => {
                    i += 1;
                    continue;
                }
                len => ("", len),
            },
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            write_unicode_escape(out, &text[i..i + len]);
        } else {
            out.push_str(escape);
        }
        i += len;
        start = i;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Per byte, how [`write_json_str`] escapes it: 0 copied as is; `"`, `\\`,
/// `n`, `r`, `t` the two-character escapes; `u` a `\\u00XX`; `m` the lead
/// byte of a character that may be a C1 control or U+2028/U+2029.
static JSON_ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x7f] = b'u';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[0xc2] = b'm';
    table[0xe2] = b'm';
    table
};

/// The UTF-8 length of the character at the start of `bytes` when it is a
/// C1 control (`C2 80`–`C2 9F`) or U+2028/U+2029 (`E2 80 A8`/`A9`), else 0.
fn unsafe_char_len(bytes: &[u8]) -> usize {
    match bytes {
        [0xc2, 0x80..=0x9f, ..] => 2,
        [0xe2, 0x80, 0xa8 | 0xa9, ..] => 3,
        _ => 0,
    }
}

/// `\u00XX` for the one character in `ch` (at most U+FFFF here).
fn write_unicode_escape(out: &mut String, ch: &str) {
    for c in ch.chars() {
        let _ = write!(out, "\\u{:04x}", u32::from(c));
    }
}

/// Appends `text` unquoted with every character that could break the line
/// or drive a terminal escaped as in JSON (`\\n`, `\\r`, `\\t`,
/// `\\u001b`, ...): an event is always one line, whatever its message
/// holds (log injection). Text without such characters is copied as is.
fn write_escaped_text(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b < 0x20 || b == 0x7f || b == 0xc2 || b == 0xe2)
    {
        out.push_str(text);
        return;
    }
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let len = match bytes[i] {
            0..=0x1f | 0x7f => 1,
            0xc2 | 0xe2 => unsafe_char_len(&bytes[i..]),
            _ => 0,
        };
        if len == 0 {
            i += 1;
            continue;
        }
        out.push_str(&text[start..i]);
        match bytes[i] {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => write_unicode_escape(out, &text[i..i + len]),
        }
        i += len;
        start = i;
    }
    out.push_str(&text[start..]);
}

/// Appends `time` as RFC 3339 UTC with milliseconds (`2025-10-11T04:40:44.166Z`).
pub fn write_rfc3339_millis(out: &mut String, time: SystemTime) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let millis = since_epoch.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    // By hand: `write!` costs more than the rest of a line's fixed fields.
    let digits = |out: &mut String, value: u64, width: usize| {
        let mut buffer = itoa::Buffer::new();
        let text = buffer.format(value);
        for _ in text.len()..width {
            out.push('0');
        }
        out.push_str(text);
    };
    digits(out, u64::try_from(year).unwrap_or(0), 4);
    out.push('-');
    digits(out, u64::from(month), 2);
    out.push('-');
    digits(out, u64::from(day), 2);
    out.push('T');
    digits(out, rem / 3600, 2);
    out.push(':');
    digits(out, (rem % 3600) / 60, 2);
    out.push(':');
    digits(out, rem % 60, 2);
    out.push('.');
    digits(out, u64::from(millis), 3);
    out.push('Z');
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm; avoids a calendar call per event).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_match_chrono() {
        for secs in [
            0_u64,
            951_782_400,
            1_760_157_644,
            4_102_444_800,
            1_709_164_800,
        ] {
            let time = UNIX_EPOCH + Duration::from_millis(secs * 1000 + 166);
            let mut ours = String::new();
            write_rfc3339_millis(&mut ours, time);
            let chrono: chrono::DateTime<chrono::Utc> = time.into();
            assert_eq!(
                ours,
                chrono.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        write_json_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
    }

    fn meta() -> ServiceMeta {
        let service = ServiceInfo {
            name: "backend",
            version: "1.0.0",
        };
        ServiceMeta::with_host(service, Environment::Development, "host", 1)
    }

    fn record(message: &str, context: &str, fields: Vec<(&'static str, FieldValue)>) -> Record {
        Record {
            time: SystemTime::now(),
            level: Level::INFO,
            message: message.to_owned(),
            context: context.to_owned(),
            fields,
            trace: None,
        }
    }

    fn pretty(record: &Record, color: bool) -> String {
        let mut out = String::new();
        render_pretty(record, &meta(), color, &mut out);
        out
    }

    /// The pretty line without the formatter's own colour codes (the
    /// badge and the level come first, so the first occurrences are ours).
    fn without_own_colours(line: &str, level: Level) -> String {
        let own_level = format!("\x1b[{}m{}\x1b[0m", level_color(level), level_name(level));
        line.replacen(&meta().badge_colored, "", 1)
            .replacen(&own_level, "", 1)
    }

    #[test]
    fn pretty_message_context_and_values_cannot_break_the_line_or_drive_the_terminal() {
        let forged = "ok\n04:40:44 [BACKEND] error [Auth] forged\r\x1b[2J\u{9b}31m\u{2028}";
        let line = pretty(
            &record(
                forged,
                "ctx\n\x1b[31m",
                vec![("note", FieldValue::Str(forged.to_owned()))],
            ),
            false,
        );
        assert!(
            !line.contains(['\n', '\r', '\x1b', '\u{9b}', '\u{2028}']),
            "{line:?}"
        );
        assert!(
            line.contains(r"ok\n04:40:44 [BACKEND] error [Auth] forged\r\u001b[2J\u009b31m\u2028"),
            "{line:?}"
        );
        assert!(line.contains(r"[ctx\n\u001b[31m]"), "{line:?}");
        assert!(line.contains(r#"note="ok\n04:40:44"#), "{line:?}");
    }

    #[test]
    fn pretty_text_without_controls_is_unchanged() {
        let line = pretty(&record("café — 100% done", "Bootstrap", vec![]), false);
        assert!(
            line.ends_with("[BACKEND] info [Bootstrap] café — 100% done"),
            "{line:?}"
        );
    }

    #[test]
    fn json_escapes_del_c1_and_line_separators_too() {
        let mut out = String::new();
        write_json_str(&mut out, "a\u{7f}b\u{9b}c\u{2028}d\u{2029}é—");
        assert_eq!(out, r#""a\u007fb\u009bc\u2028d\u2029é—""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\u{7f}b\u{9b}c\u{2028}d\u{2029}é—");
    }

    /// Any text, weighted towards the characters that matter here.
    fn text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let interesting = prop_oneof![
            any::<char>(),
            (0_u8..0x20).prop_map(char::from),
            Just('\x7f'),
            (0x80_u32..0xa0).prop_map(|c| char::from_u32(c).unwrap_or('?')),
            Just('\u{2028}'),
            Just('\u{2029}'),
            Just('"'),
            Just('\\'),
            Just('='),
        ];
        proptest::collection::vec(interesting, 0..48).prop_map(String::from_iter)
    }

    proptest::proptest! {
        #[test]
        fn any_pretty_event_is_one_line_without_foreign_control_characters(
            message in text(),
            context in text(),
            value in text(),
            color: bool,
        ) {
            let record = record(&message, &context, vec![("value", FieldValue::Str(value))]);
            let line = pretty(&record, color);
            let rest = if color { without_own_colours(&line, Level::INFO) } else { line.clone() };
            proptest::prop_assert!(
                !rest.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')),
                "{line:?}"
            );
        }

        #[test]
        fn any_json_line_parses_back_to_the_same_text(input in text()) {
            let mut out = String::new();
            write_json_str(&mut out, &input);
            proptest::prop_assert!(!out.chars().any(char::is_control));
            let parsed: String = serde_json::from_str(&out).unwrap();
            proptest::prop_assert_eq!(parsed, input);
        }
    }

    #[test]
    fn other_services_get_a_stable_badge_colour() {
        assert_eq!(badge_background("backend"), 44);
        assert_eq!(badge_background("worker"), badge_background("worker"));
    }
}
