//! A value that must never be printed.

use std::fmt;

/// Holds a secret (a salt, a password, a token): `Debug` and `Display`
/// print `[redacted]`, so a config struct that derives `Debug` cannot leak
/// it. Read it with [`Secret::expose`], where it is used.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself: call only where it is sent or used.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A URL that may carry credentials (`postgres://user:password@db/app`):
/// `Debug` and [`SecretUrl::sanitized`] show it without them. There is no
/// `Display`, so it cannot be formatted into a message or a request by
/// accident: [`SecretUrl::expose`] where the real URL is used.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its credentials: call only to connect with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL as it may be printed.
    pub fn sanitized(&self) -> std::borrow::Cow<'_, str> {
        super::sanitize_url(&self.0)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.sanitized(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_url_prints_without_its_credentials() {
        let url = SecretUrl::new("postgres://app:hunter2@db/app");
        assert_eq!(
            format!("{url:?}"),
            r#""postgres://REDACTED:REDACTED@db/app""#
        );
        assert_eq!(url.expose(), "postgres://app:hunter2@db/app");
    }

    #[test]
    fn neither_debug_nor_display_shows_the_value() {
        let secret = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert_eq!(secret.expose(), "hunter2");
    }
}
