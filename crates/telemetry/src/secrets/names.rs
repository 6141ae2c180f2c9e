//! Which field names hold secrets or personal data. Names are compared
//! case-insensitively with `-` and `_` alike (`X-Api-Key` is `x_api_key`),
//! on their last dotted segment (`http.request.header.cookie` is `cookie`),
//! plus the camelCase spelling of each suffix (`clientSecret`).

/// How a value under a name is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// As is.
    Keep,
    /// Replaced by [`REDACTED`](super::REDACTED): secrets, and personal
    /// data nobody needs to correlate (phone numbers).
    Redact,
    /// Replaced by the salted pseudonym of `hash_email`: lines of one user
    /// stay correlatable without the address.
    HashEmail,
    /// Replaced by the masked address of `mask_ip` (the network stays).
    MaskIp,
}

/// Whole names (normalised: lowercase, `_` for `-`).
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "x_api_key",
    "authorization",
    "proxy_authorization",
    "cookie",
    "set_cookie",
    "credit_card",
    "card_number",
    "dsn",
    "database_url",
    "databaseurl",
    "private_key",
    "credentials",
    "salt",
];

/// Suffixes (normalised).
const SECRET_SUFFIXES: &[&str] = &[
    "_password",
    "_passwd",
    "_secret",
    "_token",
    "_key",
    "_dsn",
    "_database_url",
    "_credentials",
    "_cookie",
    "_salt",
];

/// camelCase suffixes (case-sensitive: `accessToken`, `apiKey`).
const SECRET_CAMEL: &[&str] = &[
    "Password",
    "Passwd",
    "Secret",
    "Token",
    "Key",
    "Dsn",
    "DatabaseUrl",
    "Credentials",
    "Cookie",
    "Authorization",
    "Salt",
];

const EMAIL_NAMES: &[&str] = &["email", "e_mail", "email_address"];
const EMAIL_SUFFIXES: &[&str] = &["_email", "_email_address"];
const EMAIL_CAMEL: &[&str] = &["Email", "EmailAddress"];

const PHONE_NAMES: &[&str] = &["phone", "phone_number", "mobile", "msisdn", "telephone"];
const PHONE_SUFFIXES: &[&str] = &["_phone", "_phone_number"];
const PHONE_CAMEL: &[&str] = &["Phone", "PhoneNumber"];

const IP_NAMES: &[&str] = &["ip", "ip_address", "ip_addr", "remote_addr"];
const IP_SUFFIXES: &[&str] = &["_ip", "_ip_address"];
const IP_CAMEL: &[&str] = &["Ip", "IpAddress"];
/// OpenTelemetry attributes that hold the peer's address (whole names).
const IP_ATTRIBUTES: &[&str] = &["client.address", "source.address", "network.peer.address"];

/// The treatment of values under `name` by the default rules.
pub fn classify(name: &str) -> Treatment {
    let segment = name.rsplit('.').next().unwrap_or(name);
    if matches(segment, SECRET_NAMES, SECRET_SUFFIXES, SECRET_CAMEL) {
        Treatment::Redact
    } else if matches(segment, EMAIL_NAMES, EMAIL_SUFFIXES, EMAIL_CAMEL) {
        Treatment::HashEmail
    } else if matches(segment, PHONE_NAMES, PHONE_SUFFIXES, PHONE_CAMEL) {
        Treatment::Redact
    } else if matches(segment, IP_NAMES, IP_SUFFIXES, IP_CAMEL)
        || IP_ATTRIBUTES
            .iter()
            .any(|full| name.eq_ignore_ascii_case(full))
    {
        Treatment::MaskIp
    } else {
        Treatment::Keep
    }
}

/// Whether the value of the environment variable `name` is a secret that a
/// configuration error must not echo. URL variables are not (their value
/// is printed with credentials removed, see [`sanitize_url`](super::sanitize_url)),
/// and lists of keys (`GATEWAY_API_KEYS`) are.
pub fn is_secret_variable(name: &str) -> bool {
    let url = ends_with_name(name, "_url") || ends_with_name(name, "_dsn") || eq_name(name, "dsn");
    (!url && classify(name) != Treatment::Keep) || ends_with_name(name, "_keys")
}

fn matches(segment: &str, names: &[&str], suffixes: &[&str], camel: &[&str]) -> bool {
    names.iter().any(|n| eq_name(segment, n))
        || suffixes.iter().any(|s| ends_with_name(segment, s))
        || camel.iter().any(|c| ends_with_camel(segment, c))
}

/// `a` equals the normalised `b`, ignoring case, `-` read as `_`.
fn eq_name(a: &str, b: &str) -> bool {
    eq_bytes(a.as_bytes(), b)
}

fn eq_bytes(a: &[u8], b: &str) -> bool {
    a.len() == b.len() && a.iter().zip(b.bytes()).all(|(&x, y)| normalise(x) == y)
}

/// Bytewise, so a cut inside a multibyte character simply does not match.
fn ends_with_name(text: &str, suffix: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= suffix.len() && eq_bytes(&bytes[bytes.len() - suffix.len()..], suffix)
}

/// `text` ends with the camelCase word `word` right after a lowercase
/// letter or a digit (`apiKey`; `Key` alone is the whole-name rule's).
fn ends_with_camel(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() > word.len()
        && text.ends_with(word)
        && matches!(bytes[bytes.len() - word.len() - 1], b'a'..=b'z' | b'0'..=b'9')
}

fn normalise(byte: u8) -> u8 {
    if byte == b'-' {
        b'_'
    } else {
        byte.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_every_spelling() {
        for name in [
            "password",
            "PASSWORD",
            "db_password",
            "dbPassword",
            "client_secret",
            "CLIENT_SECRET",
            "clientSecret",
            "access_token",
            "accessToken",
            "api_key",
            "apiKey",
            "x-api-key",
            "X-Api-Key",
            "http.request.header.x-api-key",
            "proxy-authorization",
            "Authorization",
            "cookie",
            "Set-Cookie",
            "dsn",
            "sentry_dsn",
            "database_url",
            "DATABASE_URL",
            "databaseUrl",
            "private_key",
            "phone",
            "phone_number",
            "contactPhone",
        ] {
            assert_eq!(classify(name), Treatment::Redact, "{name}");
        }
    }

    #[test]
    fn personal_data_is_pseudonymised_or_masked() {
        for name in ["email", "user_email", "userEmail", "e-mail", "user.email"] {
            assert_eq!(classify(name), Treatment::HashEmail, "{name}");
        }
        for name in [
            "ip",
            "client_ip",
            "clientIp",
            "remote_addr",
            "client.address",
        ] {
            assert_eq!(classify(name), Treatment::MaskIp, "{name}");
        }
    }

    #[test]
    fn ordinary_names_are_kept() {
        for name in [
            "user_id",
            "tokens_used",
            "passwords_checked",
            "message",
            "context",
            "route",
            "url.path",
            "user_agent.original",
            "keyboard",
            "Key",
            "tooltip",
            "zip",
            "server.address",
            "http.request.method",
        ] {
            assert_eq!(classify(name), Treatment::Keep, "{name}");
        }
    }

    #[test]
    fn secret_variables_hide_their_value_but_urls_only_their_credentials() {
        for var in [
            "LOKI_PASSWORD",
            "METRICS_TOKEN",
            "GATEWAY_API_KEY",
            "GATEWAY_API_KEYS",
            "LOG_HASH_SALT",
            "DISCORD_TOKEN",
            "GF_SECURITY_SECRET_KEY",
        ] {
            assert!(is_secret_variable(var), "{var}");
        }
        for var in [
            "DATABASE_URL",
            "LOKI_URL",
            "PORT",
            "LOG_FORMAT",
            "SENTRY_DSN",
        ] {
            assert!(!is_secret_variable(var), "{var}");
        }
    }
}
