//! Marking a service's output lines with its badge.

/// Marks the lines of one service: a line its console formatter wrote
/// already carries the service's badge and passes unchanged; any other
/// (a panic, a configuration error, a library writing to stderr) gets the
/// badge in front so every line on screen says where it comes from.
#[derive(Debug, Clone)]
pub struct Marker {
    /// `[BACKEND]`: what the service's own lines contain, coloured or not.
    own: Vec<u8>,
    /// What is put in front of the other lines (coloured on a terminal).
    prefix: Vec<u8>,
}

impl Marker {
    pub fn new(service: &str, color: bool) -> Self {
        let mut prefix = telemetry::logging::format::badge(service, color).into_bytes();
        prefix.push(b' ');
        Self {
            own: telemetry::logging::format::badge(service, false).into_bytes(),
            prefix,
        }
    }

    /// `line` ready for the screen, newline-terminated (a last line without
    /// one, at end of stream, gets one).
    pub fn mark(&self, line: &[u8]) -> Vec<u8> {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let marked = contains(body, &self.own);
        let mut out = Vec::with_capacity(body.len() + self.prefix.len() + 1);
        if !marked {
            out.extend_from_slice(&self.prefix);
        }
        out.extend_from_slice(body);
        out.push(b'\n');
        out
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_own_lines_pass_unchanged() {
        let marker = Marker::new("backend", false);
        let line = b"19:33:27 [BACKEND] info [Bootstrap] Backend running\n";
        assert_eq!(marker.mark(line), line.to_vec());
        // Coloured by the service itself: the badge text is still there.
        let colored = b"19:33:27 \x1b[44;97m[BACKEND]\x1b[0m info x\n";
        assert_eq!(Marker::new("backend", true).mark(colored), colored.to_vec());
    }

    #[test]
    fn other_lines_get_the_badge() {
        let plain = Marker::new("bot", false);
        assert_eq!(
            plain.mark(b"thread 'main' panicked\n"),
            b"[BOT] thread 'main' panicked\n"
        );
        let colored = Marker::new("gateway", true);
        assert_eq!(
            colored.mark(b"oops"),
            b"\x1b[42;97m[GATEWAY]\x1b[0m oops\n".to_vec(),
            "same colour as the console formatter; a last line gets its newline"
        );
    }

    #[test]
    fn another_services_badge_is_not_mistaken_for_its_own() {
        let marker = Marker::new("gateway", false);
        assert_eq!(marker.mark(b"[BACKEND] x\n"), b"[GATEWAY] [BACKEND] x\n");
    }
}
