//! What the operator sets per key family, from the manifest's
//! `[cache.families]`: how long values stay fresh, in which tiers, and
//! whether hot keys are refreshed before they expire.

use serde::Deserialize;

/// The `early_refresh_beta` a family that opts in without one gets: the
/// XFetch paper's choice, which refreshes about one compute time ahead.
pub const DEFAULT_EARLY_REFRESH_BETA: f64 = 1.0;

/// The largest `early_refresh_beta` the manifest accepts. Past it a key
/// would be refreshed far earlier than needed (tens of compute times ahead),
/// spending upstream calls for nothing; the cache cuts a larger value from
/// elsewhere to it.
pub const MAX_EARLY_REFRESH_BETA: f64 = 10.0;

/// TTL and tier policy for one key family (`market` in `market:btc`).
///
/// Not `Eq`: `early_refresh_beta` is a float.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FamilyPolicy {
    /// Freshness of the family's values in both tiers.
    pub ttl_seconds: u64,
    /// Keep the family in this process only (never written to Redis).
    #[serde(default)]
    pub l1_only: bool,
    /// Longest TTL a component may ask for on one write in this family
    /// (default: the host's `STRATA_CACHE_MAX_TTL_SECONDS`, or the family's
    /// own TTL if that is longer).
    #[serde(default)]
    pub max_ttl_seconds: Option<u64>,
    /// How long a remembered failure ("no such symbol") stays fresh
    /// (default: the host's `STRATA_CACHE_NEGATIVE_TTL_SECONDS`). Short, so
    /// that a key that starts to exist upstream is found soon.
    #[serde(default)]
    pub negative_ttl_seconds: Option<u64>,
    /// Refresh hot keys shortly before they expire (probabilistic early
    /// expiration, "XFetch"), so their readers never see a miss: one
    /// cache-or-compute caller recomputes while the others keep getting
    /// the current value. Off by default: it costs an upstream call per
    /// TTL for every key that is read near its expiry, hot or not.
    #[serde(default)]
    pub early_refresh: bool,
    /// How far ahead of expiry refreshes happen, in compute times (default
    /// [`DEFAULT_EARLY_REFRESH_BETA`]; over 0, at most
    /// [`MAX_EARLY_REFRESH_BETA`]). Larger is earlier: fewer misses when
    /// computing time varies, more upstream calls.
    #[serde(default)]
    pub early_refresh_beta: Option<f64>,
}

impl FamilyPolicy {
    /// The XFetch beta when the family refreshes early, else `None`. A beta
    /// no manifest would pass (not over 0, not a number) turns it off; one
    /// over [`MAX_EARLY_REFRESH_BETA`] is cut to it.
    pub fn early_refresh(&self) -> Option<f64> {
        if !self.early_refresh {
            return None;
        }
        let beta = self
            .early_refresh_beta
            .unwrap_or(DEFAULT_EARLY_REFRESH_BETA);
        (beta > 0.0).then(|| beta.min(MAX_EARLY_REFRESH_BETA))
    }
}
