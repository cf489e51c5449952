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
//!
//! A family that opts in also hands leases out before expiry, to refresh a
//! hot key while its readers keep getting the current value (see `early`).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::counters::Counters;
use crate::flight::{FlightGuard, Joined};
use crate::read::{Hit, Looker, Probe, Tier};
use crate::stored::Stored;
use crate::{CacheError, TieredCache};

/// The result of cache-or-compute's first step.
pub enum Lookup {
    /// A fresh value from L1 or L2; nothing to compute.
    Hit(Hit),
    /// A remembered failure (only from [`TieredCache::resolve`]): the hit's
    /// value is what the computation that failed chose to keep.
    Negative(Hit),
    /// The caller must compute the value and [`Lease::fill`] it (or, for
    /// an early refresh, may: the value it replaces is still fresh).
    Compute(Lease),
}

/// The exclusive right to compute one key. Dropping it unfilled releases
/// the waiters (see [`flight`](crate::flight)).
pub struct Lease {
    key: String,
    stale: Option<Bytes>,
    /// When the computation started: its length is the value's XFetch delta.
    pub(crate) leased_at: Instant,
    early: bool,
    _guard: FlightGuard,
}

impl Lease {
    pub(crate) fn new(key: &str, stale: Option<Bytes>, guard: FlightGuard, early: bool) -> Self {
        Self {
            key: key.to_string(),
            stale,
            leased_at: Instant::now(),
            early,
            _guard: guard,
        }
    }

    /// The cache key this lease is for.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The expired copy kept for stale-on-error, if any; for an early
    /// refresh, the current (still fresh) value.
    pub fn stale(&self) -> Option<&Bytes> {
        self.stale.as_ref()
    }

    /// Whether this lease refreshes a value that is still fresh (early
    /// refresh) rather than one nobody could be served.
    pub fn early(&self) -> bool {
        self.early
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
        match self.look(key, negatives).await {
            Ok(answer) => Ok(answer),
            Err(stale) => self.lead_or_follow(key, stale, negatives, deadline).await,
        }
    }

    /// One look through the tiers: the answer, or (on a miss) the expired
    /// copy a lease would carry.
    async fn look(&self, key: &str, negatives: bool) -> Result<Lookup, Option<Bytes>> {
        match self.probe(key, Looker::Computer).await {
            Probe::Miss { stale } => Err(stale),
            Probe::Due { hit, entry } => Ok(self.refresh_early(key, hit, entry).await),
            found => self.answer(key, found, negatives).ok_or(None),
        }
    }

    /// The second half of cache-or-compute, for a key its caller found
    /// missing: the lease, or (after waiting on the current leaseholder
    /// until `deadline`) whatever the tiers hold once it is done.
    pub(crate) async fn lead_or_follow(
        &self,
        key: &str,
        mut stale: Option<Bytes>,
        negatives: bool,
        deadline: Instant,
    ) -> Result<Lookup, CacheError> {
        loop {
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
                    return Ok(Lookup::Compute(Lease::new(key, stale, guard, false)));
                }
                Joined::Follower(waiter) => {
                    Counters::bump(&self.counters.coalesced_waits);
                    if tokio::time::timeout_at(deadline.into(), waiter.finished())
                        .await
                        .is_err()
                    {
                        return Err(CacheError::Timeout);
                    }
                    match self.look(key, negatives).await {
                        Ok(answer) => return Ok(answer),
                        Err(expired) => stale = expired,
                    }
                }
            }
        }
    }

    /// What a find answers by itself: a value, or a remembered failure
    /// (counted) when the caller asked for those; anything else is a miss.
    pub(crate) fn answer(&self, key: &str, found: Probe, negatives: bool) -> Option<Lookup> {
        match found {
            Probe::Fresh(hit) | Probe::Due { hit, .. } => Some(Lookup::Hit(hit)),
            Probe::Negative(hit) if negatives => {
                self.counters.negative_hit(key);
                Some(Lookup::Negative(hit))
            }
            Probe::Negative(_) | Probe::Miss { .. } => None,
        }
    }

    /// Completes a lease: stores the value and wakes the waiters. A value
    /// of a family that refreshes early keeps how long it took to compute.
    pub async fn fill(
        &self,
        lease: Lease,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let delta = self
            .early_refresh_beta(&lease.key)
            .map(|_| lease.leased_at.elapsed());
        let outcome = self.write(&lease.key, value, ttl, delta).await;
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
            let stored = Stored::Negative(what).encode();
            self.store(&lease.key, stored, ttl, ttl, false, None).await;
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
