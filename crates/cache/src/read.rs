//! The read path: L1, then L2, then a miss.
//!
//! Reads are the hot path and must stay cheap: a fresh L1 entry answers
//! without touching Redis, and an L2 hit is copied into L1 (never for longer
//! than Redis would keep it) so the next read of that key stays local. An
//! expired L1 entry is not served, but it is handed on as the stale copy a
//! failed recomputation may fall back on. A remembered failure is found
//! like a value but reported apart ([`Probe::Negative`]); only callers that
//! asked for them ever see one. A cache-or-compute look may also find a
//! fresh value due for early refresh ([`Probe::Due`], see `early`); a
//! plain read never does.

use std::sync::Arc;

use std::time::Duration;

use bytes::Bytes;

use crate::TieredCache;
use crate::counters::Counters;
use crate::l1::L1Entry;
use crate::stored::Stored;

/// Which tier answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// This process's memory.
    L1,
    /// Redis (the value has been copied into L1 too).
    L2,
}

impl Tier {
    /// The `x-strata-cache` value of a hit on this tier, as components
    /// report it through the SDK (`Outcome::header_value`), so a host
    /// endpoint's hit reads like a component's in responses, logs and
    /// metrics.
    pub fn header_value(self) -> &'static str {
        match self {
            Tier::L1 => "hit-l1",
            Tier::L2 => "hit-l2",
        }
    }
}

/// A value found in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The stored value, as written.
    pub value: Bytes,
    /// Which tier answered; passed on to the guest with the value.
    pub tier: Tier,
}

/// Who looks: a plain read, or a cache-or-compute caller, who may be
/// asked to refresh a fresh value early.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Looker {
    Reader,
    Computer,
}

/// What one look through the tiers found.
pub(crate) enum Probe {
    Fresh(Hit),
    /// A fresh L1 value (in `entry`) this caller drew to refresh early.
    Due {
        hit: Hit,
        entry: Arc<L1Entry>,
    },
    /// A remembered failure; the hit's value is what the component kept.
    Negative(Hit),
    /// Nothing fresh; `stale` is an expired value (never a failure).
    Miss {
        stale: Option<Bytes>,
    },
}

impl Probe {
    /// What the tiers' bytes for `key` mean, found fresh on `tier`.
    pub(crate) fn fresh(bytes: Bytes, tier: Tier) -> Self {
        match Stored::decode(bytes) {
            Stored::Value(value) => Probe::Fresh(Hit { value, tier }),
            Stored::Negative(value) => Probe::Negative(Hit { value, tier }),
        }
    }
}

impl TieredCache {
    /// Looks through both tiers, promoting an L2 hit into L1.
    pub(crate) async fn probe(&self, key: &str, looker: Looker) -> Probe {
        let mut stale = None;
        // Taken before L2 is asked: see `insert_l1`.
        let generation = self.generation(key);
        if let Some(entry) = self
            .l1
            .get(key)
            .await
            .filter(|entry| entry.generation == generation)
        {
            if entry.is_fresh() {
                Counters::bump(&self.counters.l1_hits);
                tracing::debug!(key, "cache hit L1");
                let found = Probe::fresh(entry.value.clone(), Tier::L1);
                if let Probe::Fresh(_) = found {
                    self.hot.hit(key);
                }
                return match found {
                    Probe::Fresh(hit)
                        if looker == Looker::Computer && self.refresh_due(key, &entry) =>
                    {
                        Probe::Due { hit, entry }
                    }
                    found => found,
                };
            }
            if let Stored::Value(value) = Stored::decode(entry.value.clone()) {
                stale = Some(value);
            }
        }
        Counters::bump(&self.counters.l1_misses);
        let Some(l2) = self.l2_for(key) else {
            return Probe::Miss { stale };
        };
        match l2.get(key).await {
            Ok(Some((value, remaining))) => {
                Counters::bump(&self.counters.l2_hits);
                Counters::bump(&self.counters.promotions);
                tracing::debug!(key, "cache hit L2, promoting to L1");
                let probe = Probe::fresh(value.clone(), Tier::L2);
                let ttl = self.promotion_ttl(key, matches!(probe, Probe::Negative(_)), remaining);
                self.insert_l1(key, value, ttl, generation).await;
                probe
            }
            Ok(None) => {
                Counters::bump(&self.counters.l2_misses);
                Probe::Miss { stale }
            }
            Err(e) => {
                self.note_l2_error("get", key, &e);
                Probe::Miss { stale }
            }
        }
    }

    /// How long L1 keeps a copy of an L2 entry (a remembered failure when
    /// `negative`) that Redis keeps for `remaining`: its family's TTL, but
    /// never longer than Redis keeps it. Every path that promotes uses it.
    pub(crate) fn promotion_ttl(
        &self,
        key: &str,
        negative: bool,
        remaining: Option<Duration>,
    ) -> Duration {
        let l1_ttl = if negative {
            self.negative_ttl(key)
        } else {
            self.policy(key, None).0
        };
        remaining.map_or(l1_ttl, |r| r.min(l1_ttl))
    }

    /// A fresh value, from L1 or (promoted) from L2. A remembered failure
    /// is not a value: it reads as none.
    pub async fn get(&self, key: &str) -> Option<Hit> {
        match self.probe(key, Looker::Reader).await {
            Probe::Fresh(hit) | Probe::Due { hit, .. } => Some(hit),
            Probe::Negative(_) | Probe::Miss { .. } => {
                tracing::debug!(key, "cache miss");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::settings;

    #[tokio::test]
    async fn a_set_value_is_an_l1_hit() {
        let cache = TieredCache::new(settings(), None);
        cache
            .set("market:btc", Bytes::from_static(b"1"), None)
            .await
            .expect("set");
        let hit = cache.get("market:btc").await.expect("hit");
        assert_eq!(hit.tier, Tier::L1);
        assert_eq!(hit.value, Bytes::from_static(b"1"));
    }
}
