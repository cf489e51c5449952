//! The host's two-tier cache: L1 (moka, per process) in front of L2 (Redis,
//! shared), with per-family TTLs, write-through, single-flight and
//! stale-on-error.
//!
//! Read: L1 -> L2 -> miss; an L2 hit is promoted into L1. Write: L1 now, L2
//! in a background task so Redis latency never reaches the response. Redis
//! failures are logged and counted, never returned: the cache degrades to L1
//! plus recomputation.
//!
//! This file holds the [`TieredCache`] itself and the plumbing every path
//! shares; each path lives in its own module: `read`, `write`, `lease`
//! (cache-or-compute, remembered failures included), `batch` (the same
//! for many keys at once), `early` (refreshing hot keys before they
//! expire), `clear`, `kv` and
//! `atomic` (the cache as a key-value store: awaited writes, batches,
//! listings, counters, compare-and-swap), `generations` (family clears in
//! one Redis command, resync after missed invalidations), `settings`
//! (which TTL and tiers a key gets), `stored` (how a value and a remembered
//! failure share the tiers' bytes), `health` and `stats` (what operators
//! see), `hot` (which keys are hot, and warming a new instance's L1 from
//! them).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod atomic;
mod batch;
mod clear;
mod coherence;
mod counters;
mod early;
mod flight;
mod generations;
mod health;
mod hot;
mod kv;
mod l1;
mod l2;
mod lease;
mod policy;
mod quota;
mod read;
mod settings;
mod shards;
mod stats;
mod stored;
#[cfg(test)]
mod testing;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;

pub use batch::MAX_BATCH_KEYS;
pub use clear::Cleared;
use coherence::Coherence;
use counters::Counters;
use flight::FlightTable;
use generations::Generations;
pub use health::{L2Health, l2_state};
use hot::HitSketch;
pub use hot::{HotKeySettings, WarmLimits, WarmStop, WarmUp};
pub use kv::{KeyPage, KvError, LIST_PAGE};
pub use l1::{HOST_PARTITION, L1Limits, PartitionSpec, PartitionStats};
use l1::{L1, L1Entry};
pub use l2::{L2, L2Error};
pub use lease::{Lease, Lookup};
pub use policy::{DEFAULT_EARLY_REFRESH_BETA, FamilyPolicy, MAX_EARLY_REFRESH_BETA};
pub use quota::{QuotaError, Tenant, partitions};
pub use read::{Hit, Tier};
pub use settings::{CacheSettings, LONGEST_NEGATIVE_TTL};
pub use stats::{CacheStats, L1Stats, L2Stats};

/// Why a cache call was refused. Redis trouble is not among them.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CacheError {
    /// The value is over `max_value_bytes`; carries its size in bytes.
    #[error("value is {0} bytes, over the per-entry limit")]
    TooLarge(u64),
    /// Another request's computation of the key did not finish within
    /// `flight_wait`.
    #[error("timed out waiting for a concurrent computation of this key")]
    Timeout,
    /// The caller asked for a TTL over the key family's cap (or the host's).
    #[error("a TTL of {requested} s is over this key family's cap of {max} s")]
    TtlTooLong {
        /// The TTL asked for, in whole seconds.
        requested: u64,
        /// The cap that applies to the key, in whole seconds.
        max: u64,
    },
    /// A batch named more keys than [`MAX_BATCH_KEYS`].
    #[error("a batch of {given} keys is over the limit of {max}")]
    TooManyKeys {
        /// How many keys the batch named.
        given: usize,
        /// The most one batch may name.
        max: usize,
    },
    /// A batch named this key more than once.
    #[error("the key '{0}' appears more than once in the batch")]
    DuplicateKey(String),
}

/// Longest freshness L1 gives an entry (ten years); the manifest refuses
/// family TTLs over it.
pub const LONGEST_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// See the module documentation.
pub struct TieredCache {
    l1: L1,
    l2: Option<Arc<L2>>,
    /// Broadcasts invalidations to other instances (with an L2 only).
    coherence: Option<Arc<Coherence>>,
    /// Each family's generation (L2's; all 0 without an L2), which an L1
    /// entry must match to be served.
    generations: Arc<Generations>,
    settings: CacheSettings,
    /// `settings.families` as of the active manifest: a manifest deploy
    /// replaces them while the cache serves.
    families: arc_swap::ArcSwap<BTreeMap<String, FamilyPolicy>>,
    flights: FlightTable,
    counters: Arc<Counters>,
    /// Serialises increments and swaps of the keys this process alone
    /// holds (no L2 for them), so each read-modify-write is atomic.
    atomics: tokio::sync::Mutex<()>,
    /// L1 hits per key, for the shared record of hot keys (warm start).
    hot: HitSketch,
}

impl TieredCache {
    /// Builds the cache; with an L2 it also starts listening for other
    /// instances' invalidations (so it must run inside a tokio runtime).
    pub fn new(settings: CacheSettings, l2: Option<L2>) -> Self {
        let l1 = L1::new(settings.l1);
        let hot = HitSketch::new(settings.hot.tracked_keys, settings.hot.sample_one_in);
        let l2 = l2.map(Arc::new);
        let counters = Arc::new(Counters::for_families(settings.families.keys()));
        let coherence = l2
            .as_ref()
            .map(|l2| Coherence::start(instance_id(), l2.clone(), l1.clone(), counters.clone()));
        let generations = l2
            .as_ref()
            .map_or_else(Arc::default, |l2| l2.generations().clone());
        Self {
            l1,
            l2,
            coherence,
            generations,
            counters,
            families: arc_swap::ArcSwap::from_pointee(settings.families.clone()),
            settings,
            flights: FlightTable::default(),
            atomics: tokio::sync::Mutex::new(()),
            hot,
        }
    }

    /// The generation of `key`'s family now: taken before an L2 read, so
    /// the promoted copy is tagged with what the read could have seen.
    fn generation(&self, key: &str) -> u64 {
        self.generations.of_key(key)
    }

    /// This instance's L1 entry for `key`, unless its family has moved to
    /// another generation since it was stored.
    async fn l1_get(&self, key: &str) -> Option<Arc<L1Entry>> {
        self.l1
            .get(key)
            .await
            .filter(|entry| entry.generation == self.generation(key))
    }

    /// Stores into L1 with a freshness deadline `ttl` from now, keeping the
    /// configured stale grace, tagged with the family `generation` the
    /// value belongs to; both a write and an L2 promotion do this. A value
    /// over `l1_max_value_bytes` whose family has an L2 is not kept here at
    /// all (see [`TieredCache::skips_l1`]).
    async fn insert_l1(&self, key: &str, value: Bytes, ttl: Duration, generation: u64) {
        self.insert_l1_computed(key, value, ttl, generation, None)
            .await;
    }

    /// [`insert_l1`](Self::insert_l1) of a value this process computed in
    /// `delta` (see [`L1Entry::delta`]).
    async fn insert_l1_computed(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
        generation: u64,
        delta: Option<Duration>,
    ) {
        if self.skips_l1(key, &value) {
            // The copy L1 holds, if any, is of an older value.
            self.l1.remove(key).await;
            return;
        }
        self.put_l1(key, value, ttl, generation, delta).await;
    }

    /// Keeps a value L1 would skip for its size, when Redis could not take
    /// it: a cache outage must not lose a write.
    async fn force_l1(&self, key: &str, value: Bytes, ttl: Duration) {
        self.put_l1(key, value, ttl, self.generation(key), None)
            .await;
    }

    async fn put_l1(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
        generation: u64,
        delta: Option<Duration>,
    ) {
        // A TTL no clock can add (an operator's typo of a huge number) is
        // "for as long as the cache keeps anything".
        let ttl = ttl.min(LONGEST_TTL);
        let entry = L1Entry {
            value,
            fresh_until: Instant::now() + ttl,
            grace: self.settings.stale_grace,
            delta,
            generation,
        };
        self.l1.insert(key.to_string(), entry).await;
    }

    /// Whether `value` is too large for L1 and can live in L2 instead.
    fn skips_l1(&self, key: &str, value: &Bytes) -> bool {
        value.len() > self.settings.l1_max_value_bytes && self.l2_for(key).is_some()
    }

    /// Counts and logs an L2 failure that the caller then ignores; an open
    /// breaker is expected and logged quietly.
    fn note_l2_error(&self, op: &str, key: &str, error: &L2Error) {
        Counters::bump(&self.counters.l2_errors);
        match error {
            L2Error::CircuitOpen => tracing::debug!(op, key, "L2 skipped: breaker open"),
            _ => tracing::warn!(op, key, error = %error, "L2 unavailable; continuing with L1"),
        }
    }
}

/// A name unique to this process, for invalidation broadcasts.
fn instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}", std::process::id())
}
