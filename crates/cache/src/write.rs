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

use crate::coherence::Target;
use crate::counters::Counters;
use crate::stored::Stored;
use crate::{CacheError, L2Error, TieredCache};

impl TieredCache {
    /// Stores a value: L1 at once, L2 in the background (write-through).
    pub async fn set(
        &self,
        key: &str,
        value: Bytes,
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
        let (l1_ttl, l2_ttl, _) = self.policy(key, ttl);
        self.store(key, Stored::Value(value).encode(), l1_ttl, l2_ttl, true)
            .await;
        Ok(())
    }

    /// Puts an entry's stored form into L1 now and into L2 from a
    /// background task, then (when `announce`) tells the other instances
    /// through coherence.
    pub(crate) async fn store(
        &self,
        key: &str,
        value: Bytes,
        l1_ttl: Duration,
        l2_ttl: Duration,
        announce: bool,
    ) {
        self.insert_l1(key, value.clone(), l1_ttl, self.generation(key))
            .await;
        if let Some(l2) = self.l2_for(key).cloned() {
            let key = key.to_string();
            let counters = Arc::clone(&self.counters);
            let coherence = self.coherence.clone().filter(|_| announce);
            tokio::spawn(async move {
                let digest = coherence
                    .as_ref()
                    .map(|_| strata_digest::content_hash(&value));
                match l2.set(&key, value, l2_ttl).await {
                    Ok(()) => {
                        Counters::bump(&counters.l2_writes);
                        if let (Some(coherence), Some(digest)) = (coherence, digest) {
                            coherence
                                .broadcast(Target::Stored { key, digest }, false)
                                .await;
                        }
                    }
                    Err(e) => {
                        Counters::bump(&counters.l2_errors);
                        if !matches!(e, L2Error::CircuitOpen) {
                            tracing::warn!(key, error = %e, "L2 write failed; value kept in L1");
                        }
                    }
                }
            });
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
