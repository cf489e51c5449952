//! Pattern clears: removing every key that matches a glob, in every tier and
//! on every instance.
//!
//! Operators and components clear whole families (`market:*`) when the data
//! behind them changes. A clear must say what it could not do: when Redis
//! is partly or wholly out of reach, the count covers what was removed and
//! the error names the rest, which will expire by TTL instead.
//!
//! A whole family (`market:*`) is cleared by moving it to a new generation
//! (see `generations`): one Redis command however many keys it holds. Its
//! old keys are not removed but become unreachable, and leave Redis by
//! their TTL. Finer patterns, families without a generation of their own
//! (past the hash's field limit) and families kept in L1 only are cleared
//! key by key with SCAN and UNLINK.

use crate::coherence::{Target, drop_family};
use crate::counters::Counters;
use crate::generations::family_clear;
use crate::{L2Error, TieredCache};

/// Counts of keys removed by a clear, per tier.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cleared {
    /// Keys removed from this instance's L1 (other instances clear theirs on
    /// the broadcast and are not counted).
    pub l1: u64,
    /// Keys removed from Redis; 0 without an L2, partial when `l2_error` is
    /// set, and 0 for a generation clear (`generation` set), whose keys
    /// were made unreachable rather than removed and were not counted.
    pub l2: u64,
    /// For a whole-family clear done in one command: the family's new
    /// generation. Its earlier keys are unreachable at once and leave
    /// Redis by their TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Set when Redis could not be cleared (its keys will expire by TTL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2_error: Option<String>,
}

impl TieredCache {
    /// Removes every key matching a glob pattern from both tiers.
    pub async fn clear_pattern(&self, pattern: &str) -> Cleared {
        if let Some(cleared) = self.clear_family(pattern).await {
            return cleared;
        }
        let l1 = self
            .l1
            .remove_matching(|key| strata_keys::glob_match(pattern, key))
            .await;
        let mut cleared = Cleared {
            l1,
            ..Cleared::default()
        };
        if let Some(l2) = &self.l2 {
            match l2.clear_pattern(pattern).await {
                Ok(n) => cleared.l2 = n,
                Err(e) => {
                    if let L2Error::IncompleteClear { removed, .. } = &e {
                        cleared.l2 = *removed;
                    }
                    self.note_l2_error("clear", pattern, &e);
                    cleared.l2_error = Some(e.to_string());
                }
            }
        }
        if let Some(coherence) = &self.coherence {
            coherence
                .broadcast(Target::Pattern(pattern.to_string()), true)
                .await;
        }
        tracing::info!(pattern, l1 = cleared.l1, l2 = cleared.l2, "cache cleared");
        cleared
    }

    /// Clears a whole family by moving it to its next generation, when
    /// `pattern` is one and it can; `None` leaves it to the key-by-key path
    /// (which also reports Redis being unreachable).
    async fn clear_family(&self, pattern: &str) -> Option<Cleared> {
        let family = family_clear(pattern)?;
        let l2 = self.l2_for(pattern)?;
        let generation = match l2.bump_generation(family).await {
            Ok(generation) => generation?,
            Err(e) => {
                // The bump may have landed (a timeout): read the
                // generations again before the next Redis command.
                l2.generations().unload();
                self.note_l2_error("clear", pattern, &e);
                return None;
            }
        };
        Counters::bump(&self.counters.family_clears);
        let l1 = drop_family(&self.l1, family).await;
        if let Some(coherence) = &self.coherence {
            let target = Target::Family {
                family: family.to_string(),
                generation,
            };
            coherence.broadcast(target, true).await;
        }
        tracing::info!(pattern, l1, generation, "cache family cleared");
        Some(Cleared {
            l1,
            generation: Some(generation),
            ..Cleared::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::settings;
    use bytes::Bytes;

    #[tokio::test]
    async fn clear_pattern_removes_only_matching_l1_keys() {
        let cache = TieredCache::new(settings(), None);
        for key in ["market:btc", "market:eth", "report:1"] {
            cache
                .set(key, Bytes::from_static(b"v"), None)
                .await
                .expect("set");
        }
        let cleared = cache.clear_pattern("market:*").await;
        assert_eq!(cleared.l1, 2);
        assert_eq!(cleared.l2, 0);
        assert!(cache.get("report:1").await.is_some());
    }
}
