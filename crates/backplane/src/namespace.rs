//! The prefix that keeps one installation's keys and channels to itself.
//!
//! Several installations (or other applications) may share one Redis, and
//! cache keys are chosen by components, so without a prefix per
//! installation and a separate area for the host's own keys, a component
//! could read or overwrite another installation's values or the host's
//! refresh lock. The namespace is validated once so that nothing built on
//! it can escape it through glob or hash-tag syntax.

use std::sync::Arc;

use crate::BackplaneError;

/// The prefix of every Redis key and channel of one installation:
/// `NS:cache:KEY` for cache values, `NS:host:NAME` for the host's own keys
/// and `NS:NAME` for channels. Its characters are never glob or hash-tag
/// syntax, so a pattern built on it matches only inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(Arc<str>);

impl Namespace {
    /// Accepts 1 to 64 ASCII letters, digits, `_`, `-` or `.`; anything else
    /// is refused with [`BackplaneError::BadNamespace`].
    pub fn new(name: &str) -> Result<Self, BackplaneError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if valid {
            Ok(Self(name.into()))
        } else {
            Err(BackplaneError::BadNamespace(name.to_string()))
        }
    }

    /// The Redis key of cache key `key`.
    pub fn cache_key(&self, key: &str) -> String {
        format!("{}:cache:{key}", self.0)
    }

    /// The Redis pattern of cache pattern `pattern` (already validated to
    /// hold only key characters, `*` and `?`).
    pub fn cache_pattern(&self, pattern: &str) -> String {
        self.cache_key(pattern)
    }

    /// A key the host itself uses (locks), out of every component's reach.
    pub fn host_key(&self, name: &str) -> String {
        format!("{}:host:{name}", self.0)
    }

    /// A pub/sub channel of this installation.
    pub fn channel(&self, name: &str) -> String {
        format!("{}:{name}", self.0)
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self("strata".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_host_keys_and_channels_never_overlap() {
        let ns = Namespace::new("shop").expect("valid");
        assert_eq!(ns.cache_key("market:btc"), "shop:cache:market:btc");
        assert_eq!(ns.host_key("lock:x"), "shop:host:lock:x");
        assert_eq!(ns.channel("cache:invalidate"), "shop:cache:invalidate");
        // A component key that spells the host's key stays a cache key.
        assert_ne!(ns.cache_key("host:lock:x"), ns.host_key("lock:x"));
        assert!(ns.cache_pattern("*").starts_with("shop:cache:"));
    }

    #[test]
    fn glob_and_hash_tag_characters_are_refused() {
        for bad in [
            "",
            "a*",
            "a?",
            "a[b]",
            "{tag}",
            "a b",
            "a:b",
            &"x".repeat(65),
        ] {
            assert!(
                matches!(Namespace::new(bad), Err(BackplaneError::BadNamespace(_))),
                "{bad:?}"
            );
        }
    }
}
