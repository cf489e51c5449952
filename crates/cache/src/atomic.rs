//! Atomic counters and compare-and-swap on cache keys, for the standard
//! key-value interface's `atomics`.
//!
//! With an L2 for the key's family the operation happens in Redis (one
//! `INCRBY`, one Lua script), so it is atomic across every host instance;
//! this instance's L1 copy is then dropped, and the other instances are
//! told to drop theirs, so the next read fetches the new value. Redis being
//! unreachable is then an error ([`KvError::Unavailable`]): counting in
//! one instance alone would silently split the count. Without an L2 (no
//! Redis, or an `l1_only` family) the process is the whole store and a
//! lock makes the read-modify-write atomic among its increments and swaps
//! (a plain `put` racing them is not serialised with them).
//!
//! A counter is stored as its decimal text (what `INCRBY` reads and
//! writes), so `get` returns e.g. `b"42"`.

use bytes::Bytes;

use crate::coherence::Target;
use crate::stored::Stored;
use crate::{CacheError, KvError, TieredCache};

/// The integer a counter's bytes spell, as Redis reads them.
fn integer(bytes: &[u8]) -> Result<i64, KvError> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|text| !text.starts_with('+'))
        .and_then(|text| text.parse().ok())
        .ok_or(KvError::NotInteger)
}

impl TieredCache {
    /// Adds `delta` to the counter at `key` (0 when absent) and returns
    /// the new value; the key gets its family's TTL afresh.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let (l1_ttl, l2_ttl, _) = self.policy(key, None);
        if let Some(l2) = self.l2_for(key) {
            return match l2.increment(key, delta, l2_ttl).await {
                Ok(Some(value)) => {
                    self.forget_everywhere(key).await;
                    Ok(value)
                }
                Ok(None) => Err(KvError::NotInteger),
                Err(e) => {
                    self.note_l2_error("increment", key, &e);
                    Err(KvError::Unavailable)
                }
            };
        }
        let _serial = self.atomics.lock().await;
        let current = match self.local_value(key).await {
            Some(bytes) => integer(&bytes)?,
            None => 0,
        };
        let value = current.checked_add(delta).ok_or(KvError::NotInteger)?;
        let text = Bytes::from(value.to_string());
        self.insert_l1(
            key,
            Stored::Value(text).encode(),
            l1_ttl,
            self.generation(key),
        )
        .await;
        Ok(value)
    }

    /// The value at `key` as the store holds it (Redis when there is an L2
    /// for it, never an L1 copy), for a compare-and-swap to compare with.
    pub async fn current(&self, key: &str) -> Result<Option<Bytes>, KvError> {
        let Some(l2) = self.l2_for(key) else {
            return Ok(self.local_value(key).await);
        };
        match l2.get_raw(key).await {
            Ok(bytes) => Ok(bytes.and_then(|b| match Stored::decode(b) {
                Stored::Value(value) => Some(value),
                Stored::Negative(_) => None,
            })),
            Err(e) => {
                self.note_l2_error("current", key, &e);
                Err(KvError::Unavailable)
            }
        }
    }

    /// Stores `value` at `key` (with its family's TTL) only if the key
    /// still holds `expected` (`None`: still absent); whether it did.
    pub async fn swap(
        &self,
        key: &str,
        expected: Option<Bytes>,
        value: Bytes,
    ) -> Result<bool, KvError> {
        if value.len() > self.settings.max_value_bytes {
            return Err(CacheError::TooLarge(value.len() as u64).into());
        }
        let (l1_ttl, l2_ttl, _) = self.policy(key, None);
        let stored = Stored::Value(value).encode();
        if let Some(l2) = self.l2_for(key) {
            let expected = expected.map(|e| Stored::Value(e).encode());
            return match l2.swap(key, expected.as_deref(), &stored, l2_ttl).await {
                Ok(swapped) => {
                    if swapped {
                        self.forget_everywhere(key).await;
                    }
                    Ok(swapped)
                }
                Err(e) => {
                    self.note_l2_error("swap", key, &e);
                    Err(KvError::Unavailable)
                }
            };
        }
        let _serial = self.atomics.lock().await;
        if self.local_value(key).await != expected {
            return Ok(false);
        }
        self.insert_l1(key, stored, l1_ttl, self.generation(key))
            .await;
        Ok(true)
    }

    /// The fresh value this instance's L1 holds for `key`.
    async fn local_value(&self, key: &str) -> Option<Bytes> {
        let entry = self.l1_get(key).await.filter(|entry| entry.is_fresh())?;
        match Stored::decode(entry.value.clone()) {
            Stored::Value(value) => Some(value),
            Stored::Negative(_) => None,
        }
    }

    /// Drops every instance's L1 copy of `key` after Redis changed it, so
    /// the next read anywhere fetches the new value.
    async fn forget_everywhere(&self, key: &str) {
        self.l1.remove(key).await;
        if let Some(coherence) = &self.coherence {
            coherence
                .broadcast(Target::Key(key.to_string()), false)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::settings;
    use std::sync::Arc;

    #[tokio::test]
    async fn local_increments_are_atomic_and_stored_as_text() {
        let cache = Arc::new(TieredCache::new(settings(), None));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.increment("kv:n", 2).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("joined").expect("incremented");
        }
        let hit = cache.get("kv:n").await.expect("stored");
        assert_eq!(hit.value, Bytes::from_static(b"100"));
        cache
            .put("kv:text", Bytes::from_static(b"abc"))
            .await
            .expect("put");
        assert_eq!(
            cache.increment("kv:text", 1).await,
            Err(KvError::NotInteger)
        );
        cache
            .put("kv:max", Bytes::from(i64::MAX.to_string()))
            .await
            .expect("put");
        assert_eq!(cache.increment("kv:max", 1).await, Err(KvError::NotInteger));
    }

    #[tokio::test]
    async fn a_local_swap_happens_only_over_the_value_it_expects() {
        let cache = TieredCache::new(settings(), None);
        let one = Bytes::from_static(b"1");
        assert!(cache.swap("kv:s", None, one.clone()).await.expect("swap"));
        assert!(!cache.swap("kv:s", None, one.clone()).await.expect("swap"));
        assert_eq!(cache.current("kv:s").await, Ok(Some(one.clone())));
        let two = Bytes::from_static(b"2");
        assert!(
            cache
                .swap("kv:s", Some(one), two.clone())
                .await
                .expect("swap")
        );
        assert_eq!(cache.current("kv:s").await, Ok(Some(two)));
    }
}
