//! Size bounds on what a span records: a request controls its headers and
//! path (hyper accepts ~400 KB of headers), and the server span's fields
//! reach every log line of the request and the exported span. Values over
//! their bound keep their first bytes, cut at a character boundary, and
//! end with [`TRUNCATED_MARKER`].

use std::borrow::Cow;

/// Appended to a value that was cut (U+2026, three bytes in UTF-8).
pub const TRUNCATED_MARKER: &str = "…";

/// `user_agent.original`: real user agents are under 200 bytes.
pub const MAX_USER_AGENT_BYTES: usize = 256;

/// `url.path`: 1 KiB keeps every real route with its ids.
pub const MAX_PATH_BYTES: usize = 1024;

/// `server.address` (from `Host`): a DNS name is at most 253 bytes.
pub const MAX_HOST_BYTES: usize = 255;

/// Any string attribute of an exported span (the bound of
/// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` in the specification's terms),
/// whatever recorded it.
pub const MAX_ATTRIBUTE_BYTES: usize = 4096;

/// `text` cut to its first `max` bytes (at a character boundary) plus
/// [`TRUNCATED_MARKER`]; borrowed when it fits.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + TRUNCATED_MARKER.len());
    cut.push_str(&text[..end]);
    cut.push_str(TRUNCATED_MARKER);
    Cow::Owned(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_char_boundary_and_marked() {
        assert!(matches!(truncate("short", 8), Cow::Borrowed("short")));
        assert_eq!(truncate("abcdefghij", 4), "abcd…");
        // `é` is two bytes: a cut inside it moves back before it.
        assert_eq!(truncate("aé", 2), "a…");
        let long = "é".repeat(1000);
        let cut = truncate(&long, MAX_USER_AGENT_BYTES);
        assert!(cut.len() <= MAX_USER_AGENT_BYTES + TRUNCATED_MARKER.len());
        assert!(cut.ends_with(TRUNCATED_MARKER));
    }
}
