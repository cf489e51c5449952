//! The cache as a key-value store: what the standard `wasi:keyvalue`
//! interface needs beyond `get`, `set` and `delete`.
//!
//! A key-value write is awaited through L2 rather than left to a background
//! task: the store promises read-your-writes, and its atomic operations
//! (see `atomic`) and listings read Redis, so a write still on its way
//! there would be missed, or undone when it lands after an increment.
//! During an L2 outage a write is kept in this instance's L1 only, as a
//! cache write is, and succeeds.
//!
//! Batches touch L2 in one pipelined round trip. Listings walk Redis with
//! SCAN (never KEYS), a page at a time; see [`TieredCache::list_keys`] for
//! what they return with and without Redis.

use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use thiserror::Error;

use crate::coherence::Target;
use crate::counters::Counters;
use crate::stored::Stored;
use crate::{CacheError, TieredCache};

/// Why a key-value call was refused or could not be done.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KvError {
    /// Refused as a cache write would be (a value over the size limit).
    #[error(transparent)]
    Refused(#[from] CacheError),
    /// An increment of a value that is not a decimal 64-bit integer, or
    /// whose result would not be one.
    #[error("the value is not a 64-bit integer, or the result would overflow")]
    NotInteger,
    /// The operation needs the shared store (Redis), which did not answer:
    /// doing it in this instance alone would not be atomic across
    /// instances, or would list only this instance's copies.
    #[error("the shared store (Redis) is unreachable; try again later")]
    Unavailable,
    /// A listing cursor this host never handed out.
    #[error("invalid cursor")]
    BadCursor,
}

/// One page of a listing: cache keys (with their prefix) and where the
/// next page starts, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// Cache keys starting with the listed prefix, in no particular order.
    pub keys: Vec<String>,
    /// The cursor of the next page; `None` after the last.
    pub cursor: Option<u64>,
}

/// Keys a listing page aims for (a SCAN step may overshoot it a little).
pub const LIST_PAGE: usize = 256;
/// SCAN steps one page may take: a sparse prefix in a large keyspace
/// returns a short page (with a cursor) rather than a long wait.
const SCAN_STEPS: usize = 16;
/// Marks a cursor into this instance's L1 (no L2 for the prefix).
const L1_CURSOR: u64 = 1 << 63;
/// A Redis cursor is `node << NODE_SHIFT | scan cursor`.
const NODE_SHIFT: u32 = 48;

impl TieredCache {
    /// Stores `value` under `key` with its family's TTL: L1 now, and L2
    /// before returning (see the module documentation).
    pub async fn put(&self, key: &str, value: Bytes) -> Result<(), CacheError> {
        self.put_many(vec![(key.to_string(), value)]).await
    }

    /// Stores every pair as [`TieredCache::put`] does, with one L2 round
    /// trip. Sizes are checked first: a refused batch stores nothing.
    pub async fn put_many(&self, entries: Vec<(String, Bytes)>) -> Result<(), CacheError> {
        if let Some((_, big)) = entries
            .iter()
            .find(|(_, v)| v.len() > self.settings.max_value_bytes)
        {
            return Err(CacheError::TooLarge(big.len() as u64));
        }
        let mut shared = Vec::new();
        for (key, value) in entries {
            let (l1_ttl, l2_ttl, _) = self.policy(&key, None);
            let stored = Stored::Value(value).encode();
            self.insert_l1(&key, stored.clone(), l1_ttl, self.generation(&key))
                .await;
            if self.l2_for(&key).is_some() {
                shared.push((key, stored, l2_ttl));
            }
        }
        let (Some(l2), Some(first)) = (self.l2.as_ref(), shared.first()) else {
            return Ok(());
        };
        let borrowed: Vec<(&str, Bytes, Duration)> = shared
            .iter()
            .map(|(k, v, t)| (k.as_str(), v.clone(), *t))
            .collect();
        match l2.set_many(&borrowed).await {
            Ok(()) => {
                Counters::bump(&self.counters.l2_writes);
                if let Some(coherence) = &self.coherence {
                    join_all(shared.iter().map(|(key, stored, _)| {
                        let digest = strata_digest::content_hash(stored);
                        coherence.broadcast(
                            Target::Stored {
                                key: key.clone(),
                                digest,
                            },
                            false,
                        )
                    }))
                    .await;
                }
            }
            Err(e) => self.note_l2_error("put", &first.0, &e),
        }
        Ok(())
    }

    /// The fresh value of each key (`None` for a miss or a remembered
    /// failure), with the L2 misses of L1 read in one round trip and
    /// promoted as a read promotes them.
    pub async fn get_many(&self, keys: &[String]) -> Vec<Option<Bytes>> {
        let mut found = vec![None; keys.len()];
        let mut missed = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match self.l1_get(key).await.filter(|entry| entry.is_fresh()) {
                Some(entry) => {
                    Counters::bump(&self.counters.l1_hits);
                    if let Stored::Value(value) = Stored::decode(entry.value.clone()) {
                        self.hot.hit(key);
                        found[i] = Some(value);
                    }
                }
                None => {
                    Counters::bump(&self.counters.l1_misses);
                    if self.l2_for(key).is_some() {
                        missed.push(i);
                    }
                }
            }
        }
        let Some(l2) = self.l2.as_ref().filter(|_| !missed.is_empty()) else {
            return found;
        };
        let wanted: Vec<&str> = missed.iter().map(|&i| keys[i].as_str()).collect();
        let generations: Vec<u64> = wanted.iter().map(|key| self.generation(key)).collect();
        match l2.get_many(&wanted).await {
            Ok(replies) => {
                for ((&i, reply), generation) in missed.iter().zip(replies).zip(generations) {
                    let Some((bytes, remaining)) = reply else {
                        Counters::bump(&self.counters.l2_misses);
                        continue;
                    };
                    Counters::bump(&self.counters.l2_hits);
                    if let Stored::Value(value) = Stored::decode(bytes.clone()) {
                        Counters::bump(&self.counters.promotions);
                        let ttl = self.promotion_ttl(&keys[i], false, remaining);
                        self.insert_l1(&keys[i], bytes, ttl, generation).await;
                        found[i] = Some(value);
                    }
                }
            }
            Err(e) => self.note_l2_error("get_many", wanted[0], &e),
        }
        found
    }

    /// Removes every key from both tiers and every instance's L1, with one
    /// L2 round trip; waits for the other instances as `delete` does.
    pub async fn delete_many(&self, keys: &[String]) {
        for key in keys {
            self.l1.remove(key).await;
        }
        let shared: Vec<&str> = keys
            .iter()
            .filter(|key| self.l2_for(key).is_some())
            .map(String::as_str)
            .collect();
        if let (Some(l2), Some(first)) = (&self.l2, shared.first())
            && let Err(e) = l2.delete_many(&shared).await
        {
            self.note_l2_error("delete_many", first, &e);
        }
        if let Some(coherence) = &self.coherence {
            join_all(
                keys.iter()
                    .map(|key| coherence.broadcast(Target::Key(key.clone()), true)),
            )
            .await;
        }
    }

    /// One page of the cache keys starting with `prefix` (a valid key),
    /// from `cursor` (`None`: the first page).
    ///
    /// With an L2 for the prefix's family, the keys are Redis's (SCAN
    /// MATCH `prefix*` on every primary in turn): every key any instance
    /// wrote, and not keys only an L1 holds (a write made while Redis was
    /// down, which no other instance can read either). While Redis does
    /// not answer, the listing fails with [`KvError::Unavailable`] rather
    /// than pass one instance's copies off as the store. Without an L2
    /// (no Redis, or an `l1_only` family) L1 is the whole store, and its
    /// fresh keys are listed, sorted, a page at a time. Either way keys
    /// written or removed during a listing may or may not appear, and a
    /// key may appear twice (a Redis rehash).
    pub async fn list_keys(&self, prefix: &str, cursor: Option<u64>) -> Result<KeyPage, KvError> {
        let cursor = cursor.unwrap_or(0);
        let Some(l2) = self.l2_for(prefix) else {
            let offset = match cursor {
                0 => 0,
                c if c & L1_CURSOR != 0 => c & !L1_CURSOR,
                _ => return Err(KvError::BadCursor),
            };
            let offset = usize::try_from(offset).map_err(|_| KvError::BadCursor)?;
            let mut keys = self.l1.fresh_keys(|key, value| {
                key.starts_with(prefix) && matches!(Stored::decode(value), Stored::Value(_))
            });
            keys.sort_unstable();
            let rest = keys.len().saturating_sub(offset);
            let page: Vec<String> = keys.into_iter().skip(offset).take(LIST_PAGE).collect();
            let cursor = (rest > page.len()).then(|| L1_CURSOR | (offset + page.len()) as u64);
            return Ok(KeyPage { keys: page, cursor });
        };
        if cursor & L1_CURSOR != 0 {
            return Err(KvError::BadCursor);
        }
        let mut node = usize::try_from(cursor >> NODE_SHIFT).map_err(|_| KvError::BadCursor)?;
        let mut scan = cursor & ((1 << NODE_SHIFT) - 1);
        let unavailable = |e| {
            self.note_l2_error("list_keys", prefix, &e);
            KvError::Unavailable
        };
        let nodes = l2.listing_nodes().await.map_err(unavailable)?;
        if node > nodes.len() || (node == nodes.len() && scan != 0) {
            return Err(KvError::BadCursor);
        }
        let mut keys = Vec::new();
        for _ in 0..SCAN_STEPS {
            let Some(at) = nodes.get(node) else {
                break;
            };
            let (next, found) = l2
                .scan_prefix(at, scan, prefix)
                .await
                .map_err(unavailable)?;
            keys.extend(found);
            if next == 0 {
                node += 1;
                scan = 0;
            } else if next >> NODE_SHIFT != 0 {
                // A cursor this large would need a table of 2^48 slots.
                return Err(KvError::Unavailable);
            } else {
                scan = next;
            }
            if keys.len() >= LIST_PAGE {
                break;
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let cursor = (node < nodes.len()).then_some(((node as u64) << NODE_SHIFT) | scan);
        Ok(KeyPage { keys, cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::settings;

    #[tokio::test]
    async fn without_l2_a_listing_pages_through_l1_in_order() {
        let mut room = settings();
        room.l1.max_entries = 1000;
        let cache = TieredCache::new(room, None);
        for i in 0..(LIST_PAGE + 3) {
            cache
                .put(&format!("kv:{i:04}"), Bytes::from_static(b"v"))
                .await
                .expect("put");
        }
        cache
            .put("other:x", Bytes::from_static(b"v"))
            .await
            .expect("put");
        let first = cache.list_keys("kv:", None).await.expect("page");
        assert_eq!(first.keys.len(), LIST_PAGE);
        assert_eq!(first.keys[0], "kv:0000");
        let second = cache.list_keys("kv:", first.cursor).await.expect("page");
        assert_eq!(second.keys, ["kv:0256", "kv:0257", "kv:0258"]);
        assert_eq!(second.cursor, None);
        assert_eq!(
            cache.list_keys("kv:", Some(12345)).await,
            Err(KvError::BadCursor)
        );
    }

    #[tokio::test]
    async fn batches_store_read_and_remove_every_key() {
        let cache = TieredCache::new(settings(), None);
        let keys = vec!["kv:a".to_string(), "kv:b".to_string(), "kv:c".to_string()];
        cache
            .put_many(vec![
                (keys[0].clone(), Bytes::from_static(b"1")),
                (keys[1].clone(), Bytes::from_static(b"2")),
            ])
            .await
            .expect("put");
        let got = cache.get_many(&keys).await;
        assert_eq!(
            got,
            [
                Some(Bytes::from_static(b"1")),
                Some(Bytes::from_static(b"2")),
                None
            ]
        );
        cache.delete_many(&keys[..1]).await;
        assert_eq!(cache.get_many(&keys[..2]).await[0], None);
        let big = Bytes::from(vec![0u8; 2048]);
        let refused = cache
            .put_many(vec![(keys[2].clone(), Bytes::new()), ("kv:d".into(), big)])
            .await;
        assert_eq!(refused, Err(CacheError::TooLarge(2048)));
        assert!(
            cache.get("kv:c").await.is_none(),
            "a refused batch stores nothing"
        );
    }
}
