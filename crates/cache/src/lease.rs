//! Cache-or-compute: a miss hands out the exclusive right to compute a key.
//!
//! Without it, a popular key that expires is recomputed by every request
//! that misses it at once (a stampede on the upstream). The first caller
//! gets a [`Lease`]; concurrent callers wait (bounded by `flight_wait`) on
//! the single-flight table and look again once the lease is filled or
//! abandoned. A lease also carries the expired copy, if any, so a failed
//! computation can serve stale instead of failing.
//!
//! A computation that fails for good ("no such symbol") can be remembered
//! instead of a value ([`TieredCache::fill_negative`]), for the family's
//! short negative TTL, so the next callers get the same answer without
//! asking the upstream again. Only callers of [`TieredCache::resolve`] see
//! remembered failures; [`TieredCache::get_or_lease`] reads them as misses,
//! as callers written before they existed expect.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::counters::Counters;
use crate::flight::{FlightGuard, Joined};
use crate::read::{Hit, Probe, Tier};
use crate::stored::Stored;
use crate::{CacheError, TieredCache};

/// The result of cache-or-compute's first step.
pub enum Lookup {
    /// A fresh value from L1 or L2; nothing to compute.
    Hit(Hit),
    /// A remembered failure (only from [`TieredCache::resolve`]): the hit's
    /// value is what the computation that failed chose to keep.
    Negative(Hit),
    /// The caller must compute the value and [`Lease::fill`] it.
    Compute(Lease),
}

/// The exclusive right to compute one key. Dropping it unfilled releases
/// the waiters (see [`flight`](crate::flight)).
pub struct Lease {
    key: String,
    stale: Option<Bytes>,
    _guard: FlightGuard,
}

impl Lease {
    /// The cache key this lease is for.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The expired copy kept for stale-on-error, if any.
    pub fn stale(&self) -> Option<&Bytes> {
        self.stale.as_ref()
    }
}

impl TieredCache {
    /// Cache-or-compute, step one: a fresh hit, or the lease to compute.
    /// A remembered failure reads as a miss.
    ///
    /// Concurrent callers for one key wait for the leaseholder instead of
    /// computing too; when it fills (or abandons) the lease they look again.
    pub async fn get_or_lease(&self, key: &str) -> Result<Lookup, CacheError> {
        self.lookup(key, false).await
    }

    /// [`get_or_lease`](Self::get_or_lease) that also answers with a
    /// remembered failure ([`Lookup::Negative`]).
    pub async fn resolve(&self, key: &str) -> Result<Lookup, CacheError> {
        self.lookup(key, true).await
    }

    async fn lookup(&self, key: &str, negatives: bool) -> Result<Lookup, CacheError> {
        let deadline = Instant::now() + self.settings.flight_wait;
        loop {
            let stale = match self.probe(key).await {
                Probe::Miss { stale } => stale,
                found => match self.answer(key, found, negatives) {
                    Some(answer) => return Ok(answer),
                    None => None,
                },
            };
            match self.flights.join(key) {
                Joined::Leader(guard) => {
                    // A previous leader may have filled the key between our
                    // probe and our join; its L1 write happens before it
                    // releases the flight, so one more L1 look settles it.
                    if let Some(entry) = self.l1_get(key).await
                        && entry.is_fresh()
                        && let Some(answer) =
                            self.answer(key, Probe::fresh(entry.value.clone(), Tier::L1), negatives)
                    {
                        Counters::bump(&self.counters.l1_hits);
                        return Ok(answer);
                    }
                    Counters::bump(&self.counters.computes);
                    tracing::debug!(key, "cache miss, caller computes");
                    return Ok(Lookup::Compute(Lease {
                        key: key.to_string(),
                        stale,
                        _guard: guard,
                    }));
                }
                Joined::Follower(waiter) => {
                    Counters::bump(&self.counters.coalesced_waits);
                    if tokio::time::timeout_at(deadline.into(), waiter.finished())
                        .await
                        .is_err()
                    {
                        return Err(CacheError::Timeout);
                    }
                }
            }
        }
    }

    /// What a find answers by itself: a value, or a remembered failure
    /// (counted) when the caller asked for those; anything else is a miss.
    fn answer(&self, key: &str, found: Probe, negatives: bool) -> Option<Lookup> {
        match found {
            Probe::Fresh(hit) => Some(Lookup::Hit(hit)),
            Probe::Negative(hit) if negatives => {
                self.counters.negative_hit(key);
                Some(Lookup::Negative(hit))
            }
            Probe::Negative(_) | Probe::Miss { .. } => None,
        }
    }

    /// Completes a lease: stores the value and wakes the waiters.
    pub async fn fill(
        &self,
        lease: Lease,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let outcome = self.set(&lease.key, value, ttl).await;
        drop(lease);
        outcome
    }

    /// Completes a lease with a failure to remember instead of a value:
    /// `what` (the component's own record of it) answers for the key for
    /// its family's negative TTL, in both tiers, and wakes the waiters. A
    /// negative TTL of zero remembers nothing: the waiters compute.
    pub async fn fill_negative(&self, lease: Lease, what: Bytes) -> Result<(), CacheError> {
        if what.len() > self.settings.max_value_bytes {
            return Err(CacheError::TooLarge(what.len() as u64));
        }
        let ttl = self.negative_ttl(&lease.key);
        if !ttl.is_zero() {
            Counters::bump(&self.counters.negative_fills);
            // No coherence broadcast: other instances keep a fresh value
            // they hold until it expires, and a flood of made-up keys must
            // not become a flood of messages to every instance.
            self.store(&lease.key, Stored::Negative(what).encode(), ttl, ttl, false)
                .await;
        }
        drop(lease);
        Ok(())
    }

    /// Records that a stale value was served because recomputation failed.
    pub fn note_stale_serve(&self, key: &str) {
        Counters::bump(&self.counters.stale_serves);
        tracing::debug!(key, "serving stale value after failed compute");
    }
}

#[cfg(test)]
mod tests;
