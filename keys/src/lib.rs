//! Canonical cache keys (`type:identifier:params`) and their validation.
//!
//! Host and guests build keys through this one crate so that a key computed
//! by a component, cleared by an operator and invalidated across instances
//! is always spelled the same way. It has no dependencies so it compiles for
//! both the native host and `wasm32-wasip2` guests.

use std::fmt;

/// Longest key or pattern accepted, in bytes. Redis allows far more; the
/// bound keeps L1 memory and log lines predictable.
pub const MAX_KEY_LEN: usize = 250;

/// Builders for every key family the shipped components use.
pub struct CacheKeys;

impl CacheKeys {
    /// The dashboard aggregate shared by the HTTP route and the live feed.
    pub fn dashboard_summary() -> String {
        "dashboard:summary".to_string()
    }

    /// One market quote; symbols are case-insensitive so they are lowercased.
    pub fn market_data(symbol: &str) -> String {
        format!("market:{}", normalize(symbol))
    }

    /// One technical indicator value over a period.
    pub fn technical_indicator(symbol: &str, indicator: &str, period: &str) -> String {
        format!(
            "indicator:{}:{}:{}",
            normalize(symbol),
            normalize(indicator),
            normalize(period)
        )
    }

    /// One coin's recent price history, shared by every indicator and
    /// period computed from it.
    pub fn price_history(coin_id: &str) -> String {
        format!("history:{}", normalize(coin_id))
    }

    /// Every symbol the upstream lists, so unknown ones are answered
    /// without asking it about each.
    pub fn known_symbols() -> String {
        "symbols:known".to_string()
    }

    /// One rendered report (L1-only family).
    pub fn report(id: i64) -> String {
        format!("report:{id}")
    }

    /// The id of the newest report, so `/reports/latest` needs no query.
    pub fn report_latest_id() -> String {
        "report:latest-id".to_string()
    }
}

/// Lowercases and replaces spaces so `"BTC "` and `"btc"` share one entry.
fn normalize(part: &str) -> String {
    part.trim().to_lowercase().replace(char::is_whitespace, "_")
}

/// The family of a key: the text before the first `:` (`market` for
/// `market:btc`). Families carry TTL and tier policy.
pub fn family(key: &str) -> &str {
    key.split_once(':').map_or(key, |(family, _)| family)
}

/// Why a key or pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Nothing to look up.
    Empty,
    /// Longer than [`MAX_KEY_LEN`].
    TooLong(usize),
    /// A byte outside the allowed set, with its position.
    BadChar(char, usize),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => write!(f, "key is empty"),
            KeyError::TooLong(len) => write!(f, "key is {len} bytes, the limit is {MAX_KEY_LEN}"),
            KeyError::BadChar(c, at) => write!(
                f,
                "character {c:?} at position {at} is not allowed (use letters, digits and ':_-.')"
            ),
        }
    }
}

impl std::error::Error for KeyError {}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.')
}

/// Checks a concrete key: non-empty, bounded, and free of glob or control
/// characters so it can never act as a pattern in Redis.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    validate_with(key, is_key_char)
}

/// Checks a glob pattern: key characters plus `*` and `?`.
pub fn validate_pattern(pattern: &str) -> Result<(), KeyError> {
    validate_with(pattern, |c| is_key_char(c) || matches!(c, '*' | '?'))
}

fn validate_with(text: &str, allowed: impl Fn(char) -> bool) -> Result<(), KeyError> {
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    if text.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong(text.len()));
    }
    match text.char_indices().find(|(_, c)| !allowed(*c)) {
        Some((at, c)) => Err(KeyError::BadChar(c, at)),
        None => Ok(()),
    }
}

/// Glob match with `*` (any run) and `?` (one character), the subset of
/// Redis `MATCH` syntax that [`validate_pattern`] admits, so L1 and L2 agree
/// on what a pattern clears.
pub fn glob_match(pattern: &str, key: &str) -> bool {
    let (p, k) = (pattern.as_bytes(), key.as_bytes());
    let (mut pi, mut ki) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ki < k.len() {
        match p.get(pi) {
            Some(b'*') => {
                backtrack = Some((pi, ki));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == k[ki] => {
                pi += 1;
                ki += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    pi = star + 1;
                    ki = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The longest literal prefix of a pattern (before any `*` or `?`), used to
/// check a pattern against the prefixes a component was granted.
pub fn literal_prefix(pattern: &str) -> &str {
    let end = pattern.find(['*', '?']).unwrap_or(pattern.len());
    &pattern[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_keys_are_lowercased() {
        assert_eq!(CacheKeys::market_data("BTC"), "market:btc");
    }

    #[test]
    fn indicator_keys_follow_type_identifier_params() {
        assert_eq!(
            CacheKeys::technical_indicator("ETH", "RSI", "14"),
            "indicator:eth:rsi:14"
        );
    }

    #[test]
    fn spaces_never_reach_a_key() {
        assert_eq!(CacheKeys::market_data(" Bit Coin "), "market:bit_coin");
    }

    #[test]
    fn family_is_the_text_before_the_first_colon() {
        assert_eq!(family("indicator:eth:rsi:14"), "indicator");
        assert_eq!(family("plain"), "plain");
    }

    #[test]
    fn keys_reject_glob_characters() {
        assert_eq!(validate_key("market:*"), Err(KeyError::BadChar('*', 7)));
    }

    #[test]
    fn keys_reject_spaces_and_control_characters() {
        assert!(validate_key("market:b tc").is_err());
        assert!(validate_key("market:\nbtc").is_err());
    }

    #[test]
    fn empty_and_overlong_keys_are_rejected() {
        assert_eq!(validate_key(""), Err(KeyError::Empty));
        let long = "a".repeat(MAX_KEY_LEN + 1);
        assert_eq!(validate_key(&long), Err(KeyError::TooLong(MAX_KEY_LEN + 1)));
    }

    #[test]
    fn patterns_admit_star_and_question_mark() {
        assert!(validate_pattern("market:*").is_ok());
        assert!(validate_pattern("indicator:?th:*").is_ok());
        assert!(validate_pattern("market:[ab]").is_err());
    }

    #[test]
    fn glob_matches_like_redis_for_the_admitted_subset() {
        assert!(glob_match("market:*", "market:btc"));
        assert!(glob_match("*", "anything:at:all"));
        assert!(glob_match("indicator:*:rsi:*", "indicator:eth:rsi:14"));
        assert!(glob_match("market:bt?", "market:btc"));
        assert!(!glob_match("market:*", "indicator:btc"));
        assert!(!glob_match("market:bt?", "market:btcx"));
    }

    #[test]
    fn literal_prefix_stops_at_the_first_wildcard() {
        assert_eq!(literal_prefix("market:b*"), "market:b");
        assert_eq!(literal_prefix("*"), "");
        assert_eq!(literal_prefix("report:1"), "report:1");
    }
}
