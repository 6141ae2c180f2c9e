//! What an API key may do: `events` (the bot's `POST /events`) and `api`
//! (the `/api/*` proxy), written `key:events+api` in `GATEWAY_API_KEYS`.

use std::fmt;

/// One thing a key may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /events`: Discord events, as the bot forwards them.
    Events,
    /// `/api/*`: the backend's API through the proxy.
    Api,
}

impl Scope {
    pub const ALL: [Self; 2] = [Self::Events, Self::Api];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Api => "api",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Events => 1,
            Self::Api => 2,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Scope::ALL.into_iter().fold(Self::default(), Self::with)
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    #[must_use]
    pub fn with(self, scope: Scope) -> Self {
        Self(self.0 | scope.bit())
    }

    /// `events`, `api`, `events+api` (order and case free).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut scopes = Self::default();
        for word in text.split('+').map(str::trim) {
            let scope = Scope::ALL
                .into_iter()
                .find(|scope| scope.as_str().eq_ignore_ascii_case(word))
                .ok_or_else(|| {
                    format!("unknown scope {word:?} (expected events, api or events+api)")
                })?;
            scopes = scopes.with(scope);
        }
        Ok(scopes)
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|scope| self.contains(*scope))
            .map(Scope::as_str)
            .collect();
        write!(f, "{}", names.join("+"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scope_and_their_union() {
        let events = Scopes::parse("events").unwrap();
        assert!(events.contains(Scope::Events) && !events.contains(Scope::Api));
        let api = Scopes::parse("API").unwrap();
        assert!(api.contains(Scope::Api) && !api.contains(Scope::Events));
        assert_eq!(Scopes::parse("api+events").unwrap(), Scopes::all());
        assert_eq!(format!("{:?}", Scopes::all()), "events+api");
    }

    #[test]
    fn unknown_or_empty_scopes_are_refused() {
        for text in ["admin", "", "events+", "events,api"] {
            let error = Scopes::parse(text).unwrap_err();
            assert!(error.contains("expected events, api"), "{text}: {error}");
        }
    }
}
