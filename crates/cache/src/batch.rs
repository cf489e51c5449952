//! Batch cache-or-compute: many keys in one call, each with the guarantees
//! of [`TieredCache::get_or_lease`].
//!
//! A page that shows ten coins would otherwise make ten calls, each with
//! its own Redis round trip. A batch makes one L1 pass, one pipelined L2
//! read for what L1 missed, and hands out leases only for what both
//! missed, so the caller can compute those together (one upstream call for
//! all of them) and store them with one [`TieredCache::fill_many`].
//!
//! Single-flight per key still holds when batches overlap. A batch waits
//! on keys another caller is computing, while it may already hold leases
//! of its own; two batches that each lead one key and wait on the other's
//! would wait on each other until `flight_wait`. So a batch takes its
//! leases in key order: within one call, whoever holds a key only ever
//! waits on greater keys, and batches cannot wait on each other (the
//! ordering rule of lock hierarchies). A caller that still holds a lease
//! from an earlier call is outside that order: its waits are bounded by
//! `flight_wait` as any lookup's are, and the host refuses outright a
//! call naming a key whose lease the same instance holds, which would
//! only wait on itself.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::counters::Counters;
use crate::read::{Hit, Tier};
use crate::stored::Stored;
use crate::write::Storing;
use crate::{CacheError, Lease, Lookup, TieredCache};

/// Most keys one batch may name: a batch holds a lease per miss, and each
/// lease makes other callers of that key wait.
pub const MAX_BATCH_KEYS: usize = 256;

impl TieredCache {
    /// Cache-or-compute for every key of `keys`, answered in their order:
    /// a fresh value, or the lease to compute it. Remembered failures read
    /// as misses, as in [`get_or_lease`](Self::get_or_lease).
    ///
    /// Refused, before anything is looked up, when there are more than
    /// [`MAX_BATCH_KEYS`] keys or a key appears twice (its second lease
    /// would wait on the first forever). On [`CacheError::Timeout`] the
    /// leases already taken are released.
    pub async fn get_many_or_lease(&self, keys: &[String]) -> Result<Vec<Lookup>, CacheError> {
        if keys.len() > MAX_BATCH_KEYS {
            return Err(CacheError::TooManyKeys {
                given: keys.len(),
                max: MAX_BATCH_KEYS,
            });
        }
        let mut seen = HashSet::with_capacity(keys.len());
        if let Some(twice) = keys.iter().find(|key| !seen.insert(key.as_str())) {
            return Err(CacheError::DuplicateKey(twice.clone()));
        }
        let deadline = Instant::now() + self.settings.flight_wait;
        let mut answers: Vec<Option<Lookup>> = keys.iter().map(|_| None).collect();
        let mut stale: Vec<Option<Bytes>> = vec![None; keys.len()];

        let mut missed = Vec::new();
        // Keys L1 holds a fresh remembered failure for: a miss here, but
        // Redis holds the same failure, so it is not asked.
        let mut remembered = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match self.l1_get(key).await {
                Some(entry) if entry.is_fresh() => {
                    Counters::bump(&self.counters.l1_hits);
                    if let Stored::Value(value) = Stored::decode(entry.value.clone()) {
                        self.hot.hit(key);
                        answers[i] = Some(Lookup::Hit(Hit {
                            value,
                            tier: Tier::L1,
                        }));
                        continue;
                    }
                    remembered.push(i);
                    continue;
                }
                Some(entry) => {
                    Counters::bump(&self.counters.l1_misses);
                    if let Stored::Value(value) = Stored::decode(entry.value.clone()) {
                        stale[i] = Some(value);
                    }
                }
                None => Counters::bump(&self.counters.l1_misses),
            }
            missed.push(i);
        }
        self.read_l2_batch(keys, &missed, &mut answers).await;

        let mut leases: Vec<usize> = missed
            .into_iter()
            .filter(|&i| answers[i].is_none())
            .chain(remembered)
            .collect();
        leases.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        for i in leases {
            let answer = self
                .lead_or_follow(&keys[i], stale[i].take(), false, deadline)
                .await?;
            answers[i] = Some(answer);
        }
        Ok(answers
            .into_iter()
            .map(|answer| answer.expect("every key is answered by L1, L2 or a lease"))
            .collect())
    }

    /// The L2 half of a batch: one pipelined read of the keys L1 missed
    /// (those of families kept in L2), each value promoted as a single
    /// read promotes it. Redis trouble leaves the keys missing.
    async fn read_l2_batch(
        &self,
        keys: &[String],
        missed: &[usize],
        answers: &mut [Option<Lookup>],
    ) {
        let shared: Vec<usize> = missed
            .iter()
            .copied()
            .filter(|&i| self.l2_for(&keys[i]).is_some())
            .collect();
        let (Some(l2), Some(&first)) = (self.l2.as_ref(), shared.first()) else {
            return;
        };
        let wanted: Vec<&str> = shared.iter().map(|&i| keys[i].as_str()).collect();
        // Taken before the read, as a single read takes it (see `probe`).
        let generations: Vec<u64> = wanted.iter().map(|key| self.generation(key)).collect();
        let replies = match l2.get_many(&wanted).await {
            Ok(replies) => replies,
            Err(e) => {
                self.note_l2_error("get_many_or_lease", &keys[first], &e);
                return;
            }
        };
        for ((&i, reply), generation) in shared.iter().zip(replies).zip(generations) {
            let Some((bytes, remaining)) = reply else {
                Counters::bump(&self.counters.l2_misses);
                continue;
            };
            Counters::bump(&self.counters.l2_hits);
            Counters::bump(&self.counters.promotions);
            let key = &keys[i];
            let stored = Stored::decode(bytes.clone());
            let negative = matches!(stored, Stored::Negative(_));
            let ttl = self.promotion_ttl(key, negative, remaining);
            self.insert_l1(key, bytes, ttl, generation).await;
            if let Stored::Value(value) = stored {
                answers[i] = Some(Lookup::Hit(Hit {
                    value,
                    tier: Tier::L2,
                }));
            }
        }
    }

    /// Completes many leases at once, as [`fill`](Self::fill) completes
    /// one: every value in L1 now, all of them in L2 with one pipelined
    /// write in the background, then the waiters are released.
    ///
    /// Every value and the TTL are checked first: a refused batch stores
    /// nothing (its leases are released, so waiters compute themselves).
    pub async fn fill_many(
        &self,
        fills: Vec<(Lease, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        for (lease, value) in &fills {
            self.check_write(lease.key(), value, ttl)?;
        }
        let entries = fills
            .iter()
            .map(|(lease, value)| {
                let key = lease.key();
                let (l1_ttl, l2_ttl, _) = self.policy(key, ttl);
                Storing {
                    key: key.to_string(),
                    value: Stored::Value(value.clone()).encode(),
                    l1_ttl,
                    l2_ttl,
                    delta: self
                        .early_refresh_beta(key)
                        .map(|_| lease.leased_at.elapsed()),
                }
            })
            .collect();
        self.store_many(entries, true).await;
        drop(fills);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
