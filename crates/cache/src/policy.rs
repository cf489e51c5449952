//! What the operator sets per key family, from the manifest's
//! `[cache.families]`: how long values stay fresh, and in which tiers.

use serde::Deserialize;

/// TTL and tier policy for one key family (`market` in `market:btc`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
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
}
