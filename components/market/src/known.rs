//! The upstream's symbol list, cached, so a request for a symbol it does
//! not list is answered here instead of spending an upstream call (and the
//! upstream's rate limit) to learn the same thing.
//!
//! The list is one cached value, fetched at most once per its family's TTL
//! by whichever request misses it first. It only ever saves calls: when it
//! cannot be had (the upstream is down, over budget, or does not offer it)
//! the check steps aside and the quote is asked for as before, and that the
//! list is unavailable is itself remembered for the family's negative TTL,
//! so an outage costs one attempt per TTL, not one per request.

use strata_sdk::cache::{self, ComputeError};
use strata_sdk::keys::CacheKeys;
use strata_sdk::log;

use crate::upstream;

/// Whether the upstream lists `symbol` (lower case); `None` when the list
/// is not available.
pub fn is_listed(base: &str, symbol: &str) -> Option<bool> {
    symbol_list(base).map(|list| contains(&list, symbol))
}

/// Those of `symbols` (lower case) the upstream does not list; none when
/// the list is not available.
pub fn unlisted<'a>(base: &str, symbols: &[&'a str]) -> Vec<&'a str> {
    match symbol_list(base) {
        Some(list) => symbols
            .iter()
            .copied()
            .filter(|symbol| !contains(&list, symbol))
            .collect(),
        None => Vec::new(),
    }
}

/// The cached list, newline-separated; `None` when it is not available.
fn symbol_list(base: &str) -> Option<Vec<u8>> {
    let key = CacheKeys::known_symbols();
    match cache::get_or_compute(&key, None, || {
        upstream::listed_symbols(base).map(String::into_bytes)
    }) {
        Ok(list) => Some(list.into_bytes()),
        // Already known and logged when it was found out.
        Err(ComputeError::Remembered(_)) => None,
        // A manifest that does not grant the list's key: the check is off.
        Err(ComputeError::Cache(err)) => {
            log::debug(&format!(
                "symbol list not cached ({err}); asking the upstream"
            ));
            None
        }
        Err(err) => {
            log::warn(&format!("{err}; asking the upstream until it can be had"));
            None
        }
    }
}

/// Whether a newline-separated list holds `symbol` as a whole line.
fn contains(list: &[u8], symbol: &str) -> bool {
    list.split(|&b| b == b'\n')
        .any(|line| line == symbol.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn only_whole_lines_match() {
        let list = b"btc\neth\nusd-coin";
        assert!(contains(list, "btc"));
        assert!(contains(list, "usd-coin"));
        assert!(!contains(list, "bt"));
        assert!(!contains(list, "usd"));
        assert!(!contains(list, "btc\neth"));
        assert!(!contains(b"", "btc"));
    }
}
