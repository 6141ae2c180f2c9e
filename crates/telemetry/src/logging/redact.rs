//! Redaction at the pipeline: sensitive field names are replaced before any
//! output sees the value, and the GDPR helpers of the logging guide.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    net::IpAddr,
    sync::{Arc, OnceLock, RwLock},
};

use sha2::{Digest, Sha256};

use crate::secrets::classify;
pub use crate::secrets::{REDACTED, Treatment};

/// Decides how values under each field name are written (the rules of
/// [`crate::secrets::classify`] plus `LOG_REDACT_KEYS`), including keys
/// nested inside JSON-valued string fields.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Extra names from `LOG_REDACT_KEYS`, lowercased.
    extra: Arc<[String]>,
    /// The treatment of each field name seen so far. Field names are the
    /// callsites' `&'static str`s (a bounded set), and classifying one costs
    /// about a thousand instructions: every event would pay it per field.
    static_names: Arc<RwLock<HashMap<StaticName, Treatment, BuildHasherDefault<AddressHasher>>>>,
}

/// A `&'static str` known by its address and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StaticName(usize, usize);

/// Hashes a [`StaticName`]: the address already spreads well.
#[derive(Debug, Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_usize(&mut self, value: usize) {
        self.0 = (self.0.rotate_left(5) ^ value as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Redactor {
    pub fn new(extra_keys: &[String]) -> Self {
        let extra: Vec<String> = extra_keys
            .iter()
            .map(|k| k.trim().to_ascii_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        Self {
            extra: extra.into(),
            static_names: Arc::default(),
        }
    }

    /// [`Redactor::treatment`] of a field name, remembered per name.
    pub fn treatment_of_field(&self, name: &'static str) -> Treatment {
        let key = StaticName(name.as_ptr() as usize, name.len());
        if let Ok(names) = self.static_names.read()
            && let Some(&treatment) = names.get(&key)
        {
            return treatment;
        }
        let treatment = self.treatment(name);
        if let Ok(mut names) = self.static_names.write() {
            names.insert(key, treatment);
        }
        treatment
    }

    /// How values under `key` are written.
    pub fn treatment(&self, key: &str) -> Treatment {
        if self.extra.iter().any(|k| key.eq_ignore_ascii_case(k)) {
            return Treatment::Redact;
        }
        classify(key)
    }

    /// Whether values under `key` are never written as they are.
    pub fn is_sensitive(&self, key: &str) -> bool {
        self.treatment(key) != Treatment::Keep
    }

    /// What `text` under a name with `treatment` becomes; `None` when it is
    /// written as is.
    pub fn replace_text(treatment: Treatment, text: &str) -> Option<String> {
        match treatment {
            Treatment::Keep => None,
            Treatment::Redact => Some(REDACTED.to_owned()),
            // Already a pseudonym (the caller used `hash_email`): kept, so
            // it matches what the caller computed.
            Treatment::HashEmail if is_email_pseudonym(text) => None,
            Treatment::HashEmail => Some(hash_email(text)),
            Treatment::MaskIp => Some(mask_ip_str(text).unwrap_or_else(|| REDACTED.to_owned())),
        }
    }

    /// Redacts sensitive keys inside `value` when it is a JSON object or
    /// array; `None` when nothing had to change (the common case, no copy).
    pub fn redact_json_text(&self, value: &str) -> Option<String> {
        let trimmed = value.trim_start();
        if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
            return None;
        }
        let mut parsed: serde_json::Value = serde_json::from_str(value).ok()?;
        self.redact_json(&mut parsed)
            .then(|| serde_json::to_string(&parsed).ok())
            .flatten()
    }

    /// Treats values under sensitive keys, at any depth; true if any changed.
    pub fn redact_json(&self, value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => {
                let mut changed = false;
                for (key, inner) in map.iter_mut() {
                    let treatment = self.treatment(key);
                    if treatment == Treatment::Keep {
                        changed |= self.redact_json(inner);
                        continue;
                    }
                    let replacement = match inner {
                        serde_json::Value::String(text) => Self::replace_text(treatment, text),
                        _ => Some(REDACTED.to_owned()),
                    };
                    if let Some(replacement) = replacement {
                        *inner = serde_json::Value::String(replacement);
                        changed = true;
                    }
                }
                changed
            }
            serde_json::Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, item| self.redact_json(item) | changed),
            // A string may itself hold JSON (double-encoded payloads).
            serde_json::Value::String(text) => match self.redact_json_text(text) {
                Some(redacted) => {
                    *text = redacted;
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
}

/// What [`hash_email`] returns: 16 lowercase hex digits, then `@domain`.
fn is_email_pseudonym(text: &str) -> bool {
    let (local, _domain) = text.split_once('@').unwrap_or((text, ""));
    local.len() == 16
        && local
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

static EMAIL_SALT: OnceLock<String> = OnceLock::new();

/// Used when `LOG_HASH_SALT` is unset: hashes stay stable but are guessable
/// by anyone who reads this source, so production sets its own salt.
const DEFAULT_SALT: &str = "telemetry-default-salt";

/// Sets the process-wide salt of [`hash_email`] (first call wins).
pub fn set_email_salt(salt: &str) {
    let _ = EMAIL_SALT.set(salt.to_owned());
}

/// A stable pseudonym for an e-mail address: a salted SHA-256 of the local
/// part (16 hex chars) plus the domain, e.g. `3f2a9c1b7d4e8f60@example.com`.
/// The same address always gives the same value for one salt, so a user's
/// lines can be correlated without writing the address.
pub fn hash_email(email: &str) -> String {
    hash_email_with_salt(email, EMAIL_SALT.get().map_or(DEFAULT_SALT, String::as_str))
}

/// [`hash_email`] with an explicit salt.
pub fn hash_email_with_salt(email: &str, salt: &str) -> String {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.rsplit_once('@').unwrap_or((email.as_str(), ""));
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0]);
    hasher.update(local.as_bytes());
    let digest = hasher.finalize();
    let mut out = String::with_capacity(17 + domain.len());
    for byte in &digest[..8] {
        out.push_str(&format!("{byte:02x}"));
    }
    if !domain.is_empty() {
        out.push('@');
        out.push_str(domain);
    }
    out
}

/// Masks an IP address for logs: the last IPv4 octet, or the last 80 bits
/// of an IPv6 address (keeping the /48 routing prefix), are zeroed.
pub fn mask_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            for segment in &mut segments[3..] {
                *segment = 0;
            }
            IpAddr::from(segments)
        }
    }
}

/// [`mask_ip`] for text; `None` when `ip` is not an address.
pub fn mask_ip_str(ip: &str) -> Option<String> {
    ip.trim()
        .parse::<IpAddr>()
        .ok()
        .map(|ip| mask_ip(ip).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names_are_case_insensitive_with_suffixes_and_extras() {
        let redactor = Redactor::new(&["ssn".to_owned()]);
        for key in [
            "password",
            "PASSWORD",
            "Authorization",
            "set-cookie",
            "apiKey",
            "api_key",
            "refresh_token",
            "client_SECRET",
            "accessToken",
            "credit_card",
            "SSN",
        ] {
            assert!(redactor.is_sensitive(key), "{key}");
        }
        for key in [
            "user_id",
            "tokens_used",
            "context",
            "message",
            "passwords_checked",
        ] {
            assert!(!redactor.is_sensitive(key), "{key}");
        }
    }

    #[test]
    fn nested_json_keys_are_redacted() {
        let redactor = Redactor::default();
        let redacted = redactor
            .redact_json_text(
                r#"{"user":{"name":"ana","password":"hunter2"},"items":[{"token":"t"}]}"#,
            )
            .unwrap();
        assert!(!redacted.contains("hunter2") && !redacted.contains("\"t\""));
        assert!(redacted.contains(REDACTED));
        assert_eq!(redactor.redact_json_text(r#"{"user":"ana"}"#), None);
        assert_eq!(redactor.redact_json_text("plain text"), None);
    }

    #[test]
    fn email_hash_is_stable_salted_and_keeps_the_domain() {
        let a = hash_email_with_salt("John.Doe@Example.com", "s1");
        assert_eq!(a, hash_email_with_salt("john.doe@example.com", "s1"));
        assert_ne!(a, hash_email_with_salt("john.doe@example.com", "s2"));
        assert!(a.ends_with("@example.com") && !a.contains("john"));
        assert_eq!(a.len(), 16 + "@example.com".len());
    }

    #[test]
    fn personal_values_are_pseudonymised_once_and_ips_masked() {
        let hashed = Redactor::replace_text(Treatment::HashEmail, "ana@example.com").unwrap();
        assert!(hashed.ends_with("@example.com") && !hashed.contains("ana"));
        assert_eq!(Redactor::replace_text(Treatment::HashEmail, &hashed), None);
        assert_eq!(
            Redactor::replace_text(Treatment::MaskIp, "10.1.2.3").as_deref(),
            Some("10.1.2.0")
        );
        assert_eq!(
            Redactor::replace_text(Treatment::MaskIp, "not-an-ip").as_deref(),
            Some(REDACTED)
        );
        let redactor = Redactor::default();
        let json = redactor
            .redact_json_text(r#"{"email":"ana@example.com","ip":"10.1.2.3"}"#)
            .unwrap();
        assert!(
            json.contains("@example.com") && !json.contains("ana@") && json.contains("10.1.2.0")
        );
    }

    #[test]
    fn ips_are_masked() {
        assert_eq!(mask_ip_str("192.168.1.42").as_deref(), Some("192.168.1.0"));
        assert_eq!(
            mask_ip_str("2001:db8:abcd:12:1:2:3:4").as_deref(),
            Some("2001:db8:abcd::")
        );
        assert_eq!(mask_ip_str("nope"), None);
    }
}
