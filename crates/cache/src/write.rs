//! The write path: limits first, then L1 at once and L2 in the background.
//!
//! A response must never wait for Redis, so a write lands in L1 before
//! `set` returns and reaches L2 (and, through coherence, the other
//! instances) from a spawned task. The per-entry size limit and the TTL cap
//! are checked before anything is stored, so a refused write leaves no
//! trace. Removal is here too: a delete is a write of "nothing".

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::coherence::{Coherence, Target};
use crate::counters::Counters;
use crate::stored::Stored;
use crate::{CacheError, L2, L2Error, TieredCache};

/// One entry on its way into the tiers: its stored form, its TTL in each,
/// and how long it took to compute (for early refresh), if known.
pub(crate) struct Storing {
    pub(crate) key: String,
    pub(crate) value: Bytes,
    pub(crate) l1_ttl: Duration,
    pub(crate) l2_ttl: Duration,
    pub(crate) delta: Option<Duration>,
}

impl TieredCache {
    /// Stores a value: L1 at once, L2 in the background (write-through).
    pub async fn set(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        self.write(key, value, ttl, None).await
    }

    /// [`set`](Self::set) of a value computed in `delta` (a lease's fill),
    /// which L1 keeps for early refresh.
    pub(crate) async fn write(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
        delta: Option<Duration>,
    ) -> Result<(), CacheError> {
        self.check_write(key, &value, ttl)?;
        let (l1_ttl, l2_ttl, _) = self.policy(key, ttl);
        let stored = Stored::Value(value).encode();
        self.store(key, stored, l1_ttl, l2_ttl, true, delta).await;
        Ok(())
    }

    /// The limits every write of a value meets before anything is stored:
    /// the per-entry size and the key family's TTL cap.
    pub(crate) fn check_write(
        &self,
        key: &str,
        value: &Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        if value.len() > self.settings.max_value_bytes {
            return Err(CacheError::TooLarge(value.len() as u64));
        }
        if let Some(ttl) = ttl {
            let max = self.max_ttl(key);
            if ttl > max {
                return Err(CacheError::TtlTooLong {
                    requested: ttl.as_secs(),
                    max: max.as_secs(),
                });
            }
        }
        Ok(())
    }

    /// Puts an entry's stored form into L1 now (with the time it took to
    /// compute, if known) and into L2 from a background task, then (when
    /// `announce`) tells the other instances through coherence.
    pub(crate) async fn store(
        &self,
        key: &str,
        value: Bytes,
        l1_ttl: Duration,
        l2_ttl: Duration,
        announce: bool,
        delta: Option<Duration>,
    ) {
        let entry = Storing {
            key: key.to_string(),
            value,
            l1_ttl,
            l2_ttl,
            delta,
        };
        self.store_many(vec![entry], announce).await;
    }

    /// [`store`](Self::store) for several entries, reaching L2 in one
    /// pipelined write.
    pub(crate) async fn store_many(&self, entries: Vec<Storing>, announce: bool) {
        let mut shared = Vec::new();
        for Storing {
            key,
            value,
            l1_ttl,
            l2_ttl,
            delta,
        } in entries
        {
            self.insert_l1_computed(&key, value.clone(), l1_ttl, self.generation(&key), delta)
                .await;
            if self.l2_for(&key).is_some() {
                shared.push((key, value, l2_ttl));
            }
        }
        let Some(l2) = self.l2.clone().filter(|_| !shared.is_empty()) else {
            return;
        };
        // A value that skipped L1 is only readable once Redis has it: its
        // lease's waiters look as soon as it is released, so that write is
        // awaited rather than left to the background (the broadcasts after
        // it never are). If it fails, L1 keeps the value after all: a
        // cache outage must not lose a write.
        let awaited = shared
            .iter()
            .any(|(key, value, _)| self.skips_l1(key, value));
        if !awaited {
            let counters = Arc::clone(&self.counters);
            let coherence = self.coherence.clone().filter(|_| announce);
            tokio::spawn(async move {
                if write_l2(&l2, &shared, &counters).await {
                    announce_stored(coherence, shared).await;
                }
            });
            return;
        }
        if write_l2(&l2, &shared, &self.counters).await {
            tokio::spawn(announce_stored(
                self.coherence.clone().filter(|_| announce),
                shared,
            ));
        } else {
            for (key, value, ttl) in shared {
                self.force_l1(&key, value, ttl).await;
            }
        }
    }

    /// Removes a key from both tiers; returns whether L1 held it.
    pub async fn delete(&self, key: &str) -> bool {
        let held = self.l1.remove(key).await;
        if let Some(l2) = self.l2_for(key)
            && let Err(e) = l2.delete(key).await
        {
            self.note_l2_error("delete", key, &e);
        }
        if let Some(coherence) = &self.coherence {
            coherence
                .broadcast(Target::Key(key.to_string()), true)
                .await;
        }
        held
    }

    /// Drops this instance's L1 copy of `key`, leaving L2 and other
    /// instances alone (a local eviction, as memory pressure would do).
    pub async fn evict_l1(&self, key: &str) -> bool {
        self.l1.remove(key).await
    }
}

/// Writes `shared` (key, stored form, TTL) to Redis in one round trip;
/// whether it landed. A failure is counted and logged, never returned.
async fn write_l2(l2: &L2, shared: &[(String, Bytes, Duration)], counters: &Counters) -> bool {
    let borrowed: Vec<(&str, Bytes, Duration)> = shared
        .iter()
        .map(|(key, value, ttl)| (key.as_str(), value.clone(), *ttl))
        .collect();
    let written = match borrowed.as_slice() {
        [(key, value, ttl)] => l2.set(key, value.clone(), *ttl).await,
        _ => l2.set_many(&borrowed).await,
    };
    match written {
        Ok(()) => {
            for _ in shared {
                Counters::bump(&counters.l2_writes);
            }
            true
        }
        Err(e) => {
            Counters::bump(&counters.l2_errors);
            if !matches!(e, L2Error::CircuitOpen) {
                let key = shared.first().map_or("", |(key, _, _)| key.as_str());
                let keys = shared.len();
                tracing::warn!(key, keys, error = %e, "L2 write failed; value kept in L1");
            }
            false
        }
    }
}

/// Tells the other instances which values the keys now hold, so they drop
/// any other copy.
async fn announce_stored(
    coherence: Option<Arc<Coherence>>,
    shared: Vec<(String, Bytes, Duration)>,
) {
    let Some(coherence) = coherence else {
        return;
    };
    for (key, value, _) in shared {
        let digest = strata_digest::content_hash(&value);
        coherence
            .broadcast(Target::Stored { key, digest }, false)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::settings;

    #[tokio::test]
    async fn a_ttl_over_the_family_cap_is_refused() {
        let cache = TieredCache::new(settings(), None);
        let refused = cache
            .set(
                "market:btc",
                Bytes::from_static(b"1"),
                Some(Duration::from_secs(601)),
            )
            .await;
        assert_eq!(
            refused,
            Err(CacheError::TtlTooLong {
                requested: 601,
                max: 600
            })
        );
        assert!(cache.get("market:btc").await.is_none(), "nothing stored");
        let unlisted = cache
            .set(
                "other:x",
                Bytes::from_static(b"1"),
                Some(Duration::from_secs(u64::from(u32::MAX))),
            )
            .await;
        assert!(matches!(
            unlisted,
            Err(CacheError::TtlTooLong { max: 3600, .. })
        ));
        let within = cache
            .set(
                "market:btc",
                Bytes::from_static(b"1"),
                Some(Duration::from_secs(600)),
            )
            .await;
        assert_eq!(within, Ok(()));
    }

    #[tokio::test]
    async fn oversized_values_are_refused() {
        let cache = TieredCache::new(settings(), None);
        let big = Bytes::from(vec![0u8; 2048]);
        assert_eq!(
            cache.set("market:btc", big, None).await,
            Err(CacheError::TooLarge(2048))
        );
    }
}
