//! Credentials inside URLs: `scheme://user:password@host` and
//! `?password=...` query parameters, as found in `DATABASE_URL`,
//! `LOKI_URL`, or any text that quotes one.

use std::borrow::Cow;

use super::{REDACTED, Treatment, classify};

/// `url` with its userinfo replaced by `REDACTED:REDACTED` (the
/// OpenTelemetry conventions' spelling for `url.full`) and the values of
/// sensitive query parameters by [`REDACTED`]; borrowed when there was
/// nothing to hide.
pub fn sanitize_url(url: &str) -> Cow<'_, str> {
    sanitize_urls_in(url).map_or(Cow::Borrowed(url), Cow::Owned)
}

/// The position of the first `://` in `text`.
fn find_scheme_separator(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = bytes[from..].iter().position(|&b| b == b':') {
        let at = from + found;
        if bytes.get(at + 1..at + 3) == Some(b"//") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// [`sanitize_url`] for every URL inside `text` (a message, an error
/// chain); `None` when there was nothing to hide (the common case, no copy).
pub fn sanitize_urls_in(text: &str) -> Option<String> {
    // Cheap reject: no `://`, no URL with credentials to look at. A `:`
    // is looked for first (memchr): most texts have none.
    let mut search = find_scheme_separator(text)?;
    let mut out: Option<String> = None;
    let mut copied = 0;
    loop {
        let authority_start = search + 3;
        let rest = &text[authority_start..];
        let url_len = rest.find(is_url_end).unwrap_or(rest.len());
        let url = &rest[..url_len];
        let authority_len = url.find(['/', '?', '#']).unwrap_or(url.len());
        let mut pieces: Vec<(usize, usize, &str)> = Vec::new();
        if let Some(at) = url[..authority_len].rfind('@') {
            let userinfo = &url[..at];
            let replacement = if userinfo.contains(':') {
                "REDACTED:REDACTED"
            } else {
                "REDACTED"
            };
            pieces.push((authority_start, authority_start + at, replacement));
        }
        if let Some(query_start) = url.find('?') {
            let query_end = url
                .find('#')
                .filter(|&h| h > query_start)
                .unwrap_or(url.len());
            let mut offset = authority_start + query_start + 1;
            for pair in url[query_start + 1..query_end].split('&') {
                if let Some((name, value)) = pair.split_once('=')
                    && !value.is_empty()
                    && is_sensitive_parameter(name)
                {
                    let value_start = offset + name.len() + 1;
                    pieces.push((value_start, value_start + value.len(), REDACTED));
                }
                offset += pair.len() + 1;
            }
        }
        for (start, end, replacement) in pieces {
            let buffer = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buffer.push_str(&text[copied..start]);
            buffer.push_str(replacement);
            copied = end;
        }
        let next_from = authority_start + url_len;
        match find_scheme_separator(&text[next_from..]) {
            Some(next) => search = next_from + next,
            None => break,
        }
    }
    out.map(|mut buffer| {
        buffer.push_str(&text[copied..]);
        buffer
    })
}

/// Where a URL quoted in text ends.
fn is_url_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | ',')
}

/// Query parameters that carry credentials: the sensitive names, and the
/// signatures of pre-signed URLs.
fn is_sensitive_parameter(name: &str) -> bool {
    classify(name) == Treatment::Redact
        || ["sig", "signature", "x-amz-signature", "x-goog-signature"]
            .iter()
            .any(|s| name.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_replaced() {
        assert_eq!(
            sanitize_url("postgres://app:hunter2@db:5432/app?sslmode=require"),
            "postgres://REDACTED:REDACTED@db:5432/app?sslmode=require"
        );
        assert_eq!(
            sanitize_url("http://token@loki:3100"),
            "http://REDACTED@loki:3100"
        );
        // An `@` in the path is not userinfo.
        assert_eq!(
            sanitize_url("http://host/users/@me"),
            "http://host/users/@me"
        );
    }

    #[test]
    fn sensitive_query_parameters_are_replaced() {
        assert_eq!(
            sanitize_url("postgres://db/app?user=app&password=hunter2&sslmode=disable#x"),
            "postgres://db/app?user=app&password=***REDACTED***&sslmode=disable#x"
        );
        assert_eq!(
            sanitize_url("https://s3/obj?X-Amz-Signature=abc&token=t"),
            "https://s3/obj?X-Amz-Signature=***REDACTED***&token=***REDACTED***"
        );
    }

    #[test]
    fn urls_inside_text_are_found_and_clean_text_is_not_copied() {
        assert_eq!(
            sanitize_urls_in("GET http://u:p@a/live failed; then https://v:q@b:1 too").as_deref(),
            Some(
                "GET http://REDACTED:REDACTED@a/live failed; then https://REDACTED:REDACTED@b:1 too"
            )
        );
        assert_eq!(sanitize_urls_in("no url here"), None);
        assert_eq!(sanitize_urls_in("http://plain:3000/path?q=1"), None);
        assert!(matches!(sanitize_url("http://plain"), Cow::Borrowed(_)));
    }
}
