//! L1: this process's in-memory tier (moka).
//!
//! Entries carry their own freshness deadline. moka keeps each entry for its
//! TTL plus a stale grace period, so a value whose recomputation fails can
//! still be served, marked stale. Capacity is bounded both by entry count and
//! by bytes: moka supports one weighted capacity, so the capacity is the byte
//! budget and every entry weighs at least `byte budget / entry limit`, which
//! makes the entry limit hold too.
//!
//! L1 is split into shares, one per group of components whose cache grants
//! overlap, each a moka cache of its own with its own byte budget, plus
//! the host's share for keys no component claims. One cache per share is
//! what makes a budget hold: a component that floods its share evicts its
//! own entries, never another component's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;

/// One cached value with its freshness deadline.
#[derive(Debug, Clone)]
pub(crate) struct L1Entry {
    pub(crate) value: Bytes,
    pub(crate) fresh_until: Instant,
    /// How long past `fresh_until` the entry is kept for stale serving.
    pub(crate) grace: Duration,
    /// How long computing the value took (its lease's life), kept when its
    /// family refreshes early: the XFetch window scales with it. `None` for
    /// a value this process did not compute (an L2 promotion, a plain
    /// `set`), which is never refreshed early here (see `early`).
    pub(crate) delta: Option<Duration>,
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

/// One share of L1: the keys under `prefixes`, within `max_bytes`. See
/// [`crate::quota`] for how the host turns components into these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    /// Who the share belongs to (the component names, `+`-joined).
    pub name: String,
    /// Key prefixes whose entries live in this share.
    pub prefixes: Vec<String>,
    /// The share's byte budget.
    pub max_bytes: u64,
}

/// Name of the share of keys no partition claims (the host's own, and
/// every key when no partitions are set).
pub const HOST_PARTITION: &str = "host";

/// One share of L1 and its own moka cache, so that filling it evicts
/// only its own entries.
struct Part {
    spec: PartitionSpec,
    cache: Cache<String, Arc<L1Entry>>,
    limits: L1Limits,
    /// Entries moka removed to stay within this share's budget.
    evictions: Arc<AtomicU64>,
}

impl Part {
    fn new(spec: PartitionSpec, limits: L1Limits) -> Self {
        let max_entries = limits.max_entries.max(1);
        let max_bytes = limits.max_bytes.max(max_entries);
        let floor = u32::try_from(max_bytes / max_entries).unwrap_or(u32::MAX);
        let evictions = Arc::new(AtomicU64::new(0));
        let counted = evictions.clone();
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |key: &String, entry: &Arc<L1Entry>| {
                let size = u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX);
                size.max(floor)
            })
            .expire_after(FreshnessExpiry)
            .eviction_listener(move |_key, _entry, cause| {
                if cause == RemovalCause::Size {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self {
            spec,
            cache,
            limits: L1Limits {
                max_entries,
                max_bytes,
            },
            evictions,
        }
    }
}

/// Which share holds which keys; replaced whole when the manifest changes.
struct Layout {
    parts: Vec<Arc<Part>>,
    host: Arc<Part>,
}

impl Layout {
    /// The share `key` belongs to. Partition prefixes never overlap (see
    /// [`crate::quota`]), so at most one claims a key.
    fn part_for(&self, key: &str) -> &Arc<Part> {
        self.parts
            .iter()
            .find(|part| {
                part.spec
                    .prefixes
                    .iter()
                    .any(|p| key.starts_with(p.as_str()))
            })
            .unwrap_or(&self.host)
    }

    fn all(&self) -> impl Iterator<Item = &Arc<Part>> {
        self.parts.iter().chain(std::iter::once(&self.host))
    }
}

/// How full one share of L1 is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionStats {
    /// The share's name: its components, or [`HOST_PARTITION`].
    pub name: String,
    /// Entries held now.
    pub entries: u64,
    /// Bytes counted against the budget now.
    pub weighted_size_bytes: u64,
    /// The share's byte budget.
    pub max_bytes: u64,
    /// Entries evicted to stay within the budget since the share was made.
    pub evictions: u64,
}

/// Entry count and weighted size of the whole tier, from its shares'.
pub(crate) fn totals(partitions: &[PartitionStats]) -> (u64, u64) {
    partitions.iter().fold((0, 0), |(entries, bytes), part| {
        (entries + part.entries, bytes + part.weighted_size_bytes)
    })
}

/// The L1 tier.
#[derive(Clone)]
pub(crate) struct L1 {
    layout: Arc<ArcSwap<Layout>>,
    limits: L1Limits,
}

impl L1 {
    pub(crate) fn new(limits: L1Limits) -> Self {
        let host = Arc::new(Part::new(Self::host_spec(limits.max_bytes), limits));
        Self {
            layout: Arc::new(ArcSwap::from_pointee(Layout {
                parts: Vec::new(),
                host,
            })),
            limits,
        }
    }

    fn host_spec(max_bytes: u64) -> PartitionSpec {
        PartitionSpec {
            name: HOST_PARTITION.to_string(),
            prefixes: Vec::new(),
            max_bytes,
        }
    }

    /// Splits L1 into `specs` plus the host's share of what is left. A
    /// share whose spec is unchanged keeps its entries; a new or resized
    /// one starts empty (moka's capacity is fixed when it is built), and
    /// the entries of a share that is gone are dropped with it.
    pub(crate) async fn set_partitions(&self, specs: Vec<PartitionSpec>) {
        let current = self.layout.load_full();
        let claimed: u64 = specs.iter().map(|spec| spec.max_bytes).sum();
        let host_bytes = self.limits.max_bytes.saturating_sub(claimed).max(1);
        let reuse = |spec: PartitionSpec| {
            current
                .all()
                .find(|part| part.spec == spec)
                .cloned()
                .unwrap_or_else(|| Arc::new(Part::new(spec.clone(), self.share_of(spec.max_bytes))))
        };
        let parts = specs.into_iter().map(&reuse).collect();
        let host = reuse(Self::host_spec(host_bytes));
        let layout = Arc::new(Layout { parts, host });
        self.layout.store(layout.clone());
        // A kept share may hold keys the new layout routes elsewhere (the
        // host's share, when a component's grant grew): no lookup or
        // invalidation reaches them there any more, so they go now.
        for part in layout.all() {
            let strays: Vec<Arc<String>> = part
                .cache
                .iter()
                .filter(|(key, _)| !Arc::ptr_eq(layout.part_for(key), part))
                .map(|(key, _)| key)
                .collect();
            for key in strays {
                part.cache.remove(key.as_str()).await;
            }
        }
    }

    /// The limits of a share of `max_bytes`: the entry cap in the same
    /// proportion of the whole.
    fn share_of(&self, max_bytes: u64) -> L1Limits {
        let whole = self.limits.max_bytes.max(1);
        let entries =
            u128::from(self.limits.max_entries) * u128::from(max_bytes) / u128::from(whole);
        L1Limits {
            max_entries: u64::try_from(entries).unwrap_or(u64::MAX).max(1),
            max_bytes,
        }
    }

    pub(crate) async fn get(&self, key: &str) -> Option<Arc<L1Entry>> {
        let cache = self.layout.load().part_for(key).cache.clone();
        cache.get(key).await
    }

    pub(crate) async fn insert(&self, key: String, entry: L1Entry) {
        let cache = self.layout.load().part_for(&key).cache.clone();
        cache.insert(key, Arc::new(entry)).await;
    }

    pub(crate) async fn remove(&self, key: &str) -> bool {
        let cache = self.layout.load().part_for(key).cache.clone();
        cache.remove(key).await.is_some()
    }

    /// Every share's cache, for the scans that cross them.
    fn caches(&self) -> Vec<Cache<String, Arc<L1Entry>>> {
        self.layout
            .load()
            .all()
            .map(|part| part.cache.clone())
            .collect()
    }

    /// Removes every key `matches` accepts; returns how many.
    pub(crate) async fn remove_matching(&self, matches: impl Fn(&str) -> bool) -> u64 {
        let mut removed = 0;
        for cache in self.caches() {
            let keys: Vec<Arc<String>> = cache
                .iter()
                .filter(|(key, _)| matches(key))
                .map(|(key, _)| key)
                .collect();
            for key in keys {
                if cache.remove(key.as_str()).await.is_some() {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// The keys of fresh entries `wanted` accepts (given the key and the
    /// stored bytes): a scan of the whole tier, for listings, which L1's
    /// bounded size keeps bounded.
    pub(crate) fn fresh_keys(&self, wanted: impl Fn(&str, Bytes) -> bool) -> Vec<String> {
        self.caches()
            .iter()
            .flat_map(|cache| {
                cache
                    .iter()
                    .filter(|(key, entry)| entry.is_fresh() && wanted(key, entry.value.clone()))
                    .map(|(key, _)| key.as_ref().clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// How many entries `matches` accepts (a scan: for stats, not hot paths).
    pub(crate) fn count_matching(&self, matches: impl Fn(&str) -> bool) -> u64 {
        self.caches()
            .iter()
            .map(|cache| cache.iter().filter(|(key, _)| matches(key)).count() as u64)
            .sum()
    }

    /// Each share's figures, the host's last.
    pub(crate) async fn partitions(&self) -> Vec<PartitionStats> {
        let layout = self.layout.load_full();
        let mut stats = Vec::new();
        for part in layout.all() {
            part.cache.run_pending_tasks().await;
            stats.push(PartitionStats {
                name: part.spec.name.clone(),
                entries: part.cache.entry_count(),
                weighted_size_bytes: part.cache.weighted_size(),
                max_bytes: part.limits.max_bytes,
                evictions: part.evictions.load(Ordering::Relaxed),
            });
        }
        stats
    }

    pub(crate) fn limits(&self) -> L1Limits {
        self.limits
    }
}

#[cfg(test)]
mod tests;
