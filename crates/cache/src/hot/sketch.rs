//! Which keys this instance serves most: a bounded count of L1 hits.
//!
//! moka keeps a frequency sketch for its own admission policy, but it is
//! private to moka (0.12), holds no keys (only hashes) and saturates at 15,
//! so the cache counts hits itself. Counting happens on every L1 hit, the
//! hottest code of the host, so it is a hash and one uncontended lock of one
//! shard out of sixteen, and optionally only one hit in `sample_one_in`.
//!
//! Keys are chosen by components, so a stranger can send any number of
//! distinct ones: the table holds at most `capacity` keys. A new key in a
//! full shard replaces the least-hit of a few slots picked at random, so a
//! flood of one-hit keys churns among itself while keys hit more than once
//! between two floods' evictions stay. [`HitSketch::decay`] halves every
//! count (and drops the ones that reach zero) once per recording period, so
//! a key that stopped being asked for ages out instead of staying "hot"
//! for ever.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Shards, so concurrent hits on different keys rarely wait for each other.
const SHARDS: usize = 16;

/// Slots looked at to choose whom a new key replaces in a full shard.
const PROBES: u32 = 8;

/// See the module documentation.
pub(crate) struct HitSketch {
    shards: Box<[Mutex<Shard>]>,
    /// Keys one shard holds at most; shards times this never exceeds the
    /// configured capacity.
    per_shard: usize,
    /// Keyed per process, so nobody can pick keys that all land in one
    /// shard or one index bucket.
    hasher: RandomState,
    sample_one_in: u32,
}

/// One key's count.
struct Slot {
    hash: u64,
    key: Box<str>,
    hits: u32,
}

#[derive(Default)]
struct Shard {
    /// Slot index by key hash. Two keys with one 64-bit hash share a count
    /// (a statistic, so that is harmless and improbable).
    index: HashMap<u64, usize, BuildHasherDefault<HashIsKey>>,
    slots: Vec<Slot>,
}

impl HitSketch {
    /// Counts at most `capacity` keys (none with 0), one hit in
    /// `sample_one_in` (every hit with 0 or 1).
    pub(crate) fn new(capacity: usize, sample_one_in: u32) -> Self {
        let shards = SHARDS.min(capacity);
        let per_shard = capacity.checked_div(shards).unwrap_or(0);
        Self {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            per_shard,
            hasher: RandomState::new(),
            sample_one_in: sample_one_in.max(1),
        }
    }

    /// Counts one L1 hit on `key` (or, sampled, one in `sample_one_in`).
    pub(crate) fn hit(&self, key: &str) {
        if self.shards.is_empty() || (self.sample_one_in > 1 && !roll(self.sample_one_in)) {
            return;
        }
        let hash = self.hasher.hash_one(key);
        let shard = (hash >> 32) as usize % self.shards.len();
        lock(&self.shards[shard]).hit(hash, key, self.per_shard);
    }

    /// How many hits one counted hit stands for.
    pub(crate) fn scale(&self) -> u32 {
        self.sample_one_in
    }

    /// Every counted key with its count, in no order.
    pub(crate) fn counts(&self) -> Vec<(String, u32)> {
        self.shards
            .iter()
            .flat_map(|shard| {
                lock(shard)
                    .slots
                    .iter()
                    .map(|slot| (slot.key.to_string(), slot.hits))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Halves every count, forgetting the keys that reach zero.
    pub(crate) fn decay(&self) {
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            let shard = &mut *shard;
            shard.slots.retain_mut(|slot| {
                slot.hits /= 2;
                slot.hits > 0
            });
            shard.index.clear();
            for (i, slot) in shard.slots.iter().enumerate() {
                shard.index.insert(slot.hash, i);
            }
        }
    }

    /// Keys counted right now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| lock(shard).slots.len())
            .sum()
    }
}

impl Shard {
    fn hit(&mut self, hash: u64, key: &str, capacity: usize) {
        if let Some(&i) = self.index.get(&hash) {
            let slot = &mut self.slots[i];
            slot.hits = slot.hits.saturating_add(1);
            return;
        }
        if self.slots.len() >= capacity {
            let len = self.slots.len();
            let victim = (0..PROBES)
                .map(|p| (hash.rotate_left(p * 8) as usize) % len)
                .min_by_key(|&i| self.slots[i].hits);
            if let Some(victim) = victim {
                self.remove(victim);
            }
        }
        self.index.insert(hash, self.slots.len());
        self.slots.push(Slot {
            hash,
            key: key.into(),
            hits: 1,
        });
    }

    fn remove(&mut self, i: usize) {
        let gone = self.slots.swap_remove(i);
        self.index.remove(&gone.hash);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.hash, i);
        }
    }
}

/// A shard's lock; a panic while holding it leaves counts, never broken
/// invariants that matter, so a poisoned lock is used as it is.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// This thread's xorshift state (0 until first used).
    static DICE: Cell<u64> = const { Cell::new(0) };
}

/// True once in `one_in` calls on average. Random rather than every n-th
/// call, so a request that reads the same n keys in a fixed order does not
/// always count the same one.
fn roll(one_in: u32) -> bool {
    DICE.with(|dice| {
        let mut x = dice.get();
        if x == 0 {
            x = RandomState::new().hash_one(0u8) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        dice.set(x);
        x % u64::from(one_in) == 0
    })
}

/// The index's keys are already keyed hashes: hashing them again would
/// only cost time.
#[derive(Default)]
struct HashIsKey(u64);

impl Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(sketch: &HitSketch) -> Vec<(String, u32)> {
        let mut counts = sketch.counts();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts
    }

    #[test]
    fn hits_are_counted_per_key() {
        let sketch = HitSketch::new(64, 1);
        for _ in 0..5 {
            sketch.hit("market:btc");
        }
        sketch.hit("market:eth");
        assert_eq!(
            ranked(&sketch),
            [("market:btc".to_string(), 5), ("market:eth".to_string(), 1)]
        );
    }

    #[test]
    fn a_flood_of_distinct_keys_never_grows_past_the_capacity() {
        let sketch = HitSketch::new(256, 1);
        for i in 0..20_000 {
            sketch.hit(&format!("flood:{i}"));
            assert!(sketch.len() <= 256);
        }
        assert_eq!(sketch.len(), 256);
    }

    #[test]
    fn a_key_hit_often_survives_a_flood_of_one_hit_keys() {
        let sketch = HitSketch::new(256, 1);
        for i in 0..20_000 {
            if i % 10 == 0 {
                sketch.hit("market:btc");
            }
            sketch.hit(&format!("flood:{i}"));
        }
        let top = ranked(&sketch);
        assert_eq!(top[0].0, "market:btc");
        assert!(top[0].1 > 1_000, "its count was kept: {top:?}");
    }

    #[test]
    fn decay_lets_a_formerly_hot_key_drop_out() {
        let sketch = HitSketch::new(64, 1);
        for _ in 0..100 {
            sketch.hit("market:old");
        }
        let mut periods = 0;
        while sketch.counts().iter().any(|(key, _)| key == "market:old") {
            for _ in 0..10 {
                sketch.hit("market:new");
            }
            sketch.decay();
            periods += 1;
            assert!(periods <= 8, "100 hits halve to nothing in 7 periods");
        }
        assert_eq!(periods, 7);
        assert_eq!(ranked(&sketch)[0].0, "market:new");
    }

    #[test]
    fn decay_keeps_the_index_consistent() {
        let sketch = HitSketch::new(64, 1);
        sketch.hit("a:1");
        for _ in 0..4 {
            sketch.hit("a:2");
        }
        sketch.decay();
        sketch.hit("a:2");
        sketch.hit("a:3");
        assert_eq!(
            ranked(&sketch),
            [("a:2".to_string(), 3), ("a:3".to_string(), 1)]
        );
    }

    #[test]
    fn no_capacity_counts_nothing() {
        let sketch = HitSketch::new(0, 1);
        sketch.hit("market:btc");
        assert_eq!(sketch.len(), 0);
    }

    #[test]
    fn sampling_counts_about_one_hit_in_n() {
        let sketch = HitSketch::new(16, 8);
        for _ in 0..80_000 {
            sketch.hit("market:btc");
        }
        let counted = ranked(&sketch)[0].1;
        assert!((8_000..12_000).contains(&counted), "counted {counted}");
        assert_eq!(sketch.scale(), 8);
    }
}
