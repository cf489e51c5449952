//! L1: this process's in-memory tier (moka).
//!
//! Entries carry their own freshness deadline. moka keeps each entry for its
//! TTL plus a stale grace period, so a value whose recomputation fails can
//! still be served, marked stale. Capacity is bounded both by entry count and
//! by bytes: moka supports one weighted capacity, so the capacity is the byte
//! budget and every entry weighs at least `byte budget / entry limit`, which
//! makes the entry limit hold too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;
use moka::future::Cache;

/// One cached value with its freshness deadline.
#[derive(Debug, Clone)]
pub(crate) struct L1Entry {
    pub(crate) value: Bytes,
    pub(crate) fresh_until: Instant,
    /// How long past `fresh_until` the entry is kept for stale serving.
    pub(crate) grace: Duration,
    /// The family generation the value belongs to: once the family moves
    /// on, the entry is a miss, even if it was stored (from an L2 read
    /// racing the clear) after the clear dropped the family.
    pub(crate) generation: u64,
}

impl L1Entry {
    pub(crate) fn is_fresh(&self) -> bool {
        Instant::now() < self.fresh_until
    }
}

struct FreshnessExpiry;

impl FreshnessExpiry {
    fn lifetime(entry: &L1Entry, now: Instant) -> Option<Duration> {
        Some(entry.fresh_until.saturating_duration_since(now) + entry.grace)
    }
}

impl Expiry<String, Arc<L1Entry>> for FreshnessExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<L1Entry>,
        created_at: Instant,
    ) -> Option<Duration> {
        Self::lifetime(value, created_at)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Arc<L1Entry>,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Self::lifetime(value, updated_at)
    }
}

/// Sizing of the L1 tier.
#[derive(Debug, Clone, Copy)]
pub struct L1Limits {
    /// Most entries held; at least 1. Enforced through the byte weigher: every
    /// entry weighs at least `max_bytes / max_entries`.
    pub max_entries: u64,
    /// Most bytes of keys plus values held (raised to `max_entries` if lower);
    /// the least recently useful entries are evicted past it.
    pub max_bytes: u64,
}

/// The L1 tier.
#[derive(Clone)]
pub(crate) struct L1 {
    cache: Cache<String, Arc<L1Entry>>,
    limits: L1Limits,
}

impl L1 {
    pub(crate) fn new(limits: L1Limits) -> Self {
        let max_entries = limits.max_entries.max(1);
        let max_bytes = limits.max_bytes.max(max_entries);
        let floor = u32::try_from(max_bytes / max_entries).unwrap_or(u32::MAX);
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |key: &String, entry: &Arc<L1Entry>| {
                let size = u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX);
                size.max(floor)
            })
            .expire_after(FreshnessExpiry)
            .build();
        Self { cache, limits }
    }

    pub(crate) async fn get(&self, key: &str) -> Option<Arc<L1Entry>> {
        self.cache.get(key).await
    }

    pub(crate) async fn insert(&self, key: String, entry: L1Entry) {
        self.cache.insert(key, Arc::new(entry)).await;
    }

    pub(crate) async fn remove(&self, key: &str) -> bool {
        self.cache.remove(key).await.is_some()
    }

    /// Removes every key `matches` accepts; returns how many.
    pub(crate) async fn remove_matching(&self, matches: impl Fn(&str) -> bool) -> u64 {
        let keys: Vec<Arc<String>> = self
            .cache
            .iter()
            .filter(|(key, _)| matches(key))
            .map(|(key, _)| key)
            .collect();
        let mut removed = 0;
        for key in keys {
            if self.cache.remove(key.as_str()).await.is_some() {
                removed += 1;
            }
        }
        removed
    }

    /// The keys of fresh entries `wanted` accepts (given the key and the
    /// stored bytes): a scan of the whole tier, for listings, which L1's
    /// bounded size keeps bounded.
    pub(crate) fn fresh_keys(&self, wanted: impl Fn(&str, Bytes) -> bool) -> Vec<String> {
        self.cache
            .iter()
            .filter(|(key, entry)| entry.is_fresh() && wanted(key, entry.value.clone()))
            .map(|(key, _)| key.as_ref().clone())
            .collect()
    }

    /// How many entries `matches` accepts (a scan: for stats, not hot paths).
    pub(crate) fn count_matching(&self, matches: impl Fn(&str) -> bool) -> u64 {
        self.cache.iter().filter(|(key, _)| matches(key)).count() as u64
    }

    /// Entry count and weighted size, after applying pending maintenance so
    /// the figures are current.
    pub(crate) async fn usage(&self) -> (u64, u64) {
        self.cache.run_pending_tasks().await;
        (self.cache.entry_count(), self.cache.weighted_size())
    }

    pub(crate) fn limits(&self) -> L1Limits {
        self.limits
    }
}

#[cfg(test)]
mod tests;
