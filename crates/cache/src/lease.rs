//! Cache-or-compute: a miss hands out the exclusive right to compute a key.
//!
//! Without it, a popular key that expires is recomputed by every request
//! that misses it at once (a stampede on the upstream). The first caller
//! gets a [`Lease`]; concurrent callers wait (bounded by `flight_wait`) on
//! the single-flight table and look again once the lease is filled or
//! abandoned. A lease also carries the expired copy, if any, so a failed
//! computation can serve stale instead of failing.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::counters::Counters;
use crate::flight::{FlightGuard, Joined};
use crate::read::{Hit, Probe, Tier};
use crate::{CacheError, TieredCache};

/// The result of cache-or-compute's first step.
pub enum Lookup {
    /// A fresh value from L1 or L2; nothing to compute.
    Hit(Hit),
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
    ///
    /// Concurrent callers for one key wait for the leaseholder instead of
    /// computing too; when it fills (or abandons) the lease they look again.
    pub async fn get_or_lease(&self, key: &str) -> Result<Lookup, CacheError> {
        let deadline = Instant::now() + self.settings.flight_wait;
        loop {
            let stale = match self.probe(key).await {
                Probe::Fresh(hit) => return Ok(Lookup::Hit(hit)),
                Probe::Miss { stale } => stale,
            };
            match self.flights.join(key) {
                Joined::Leader(guard) => {
                    // A previous leader may have filled the key between our
                    // probe and our join; its L1 write happens before it
                    // releases the flight, so one more L1 look settles it.
                    if let Some(entry) = self.l1.get(key).await
                        && entry.is_fresh()
                    {
                        Counters::bump(&self.counters.l1_hits);
                        return Ok(Lookup::Hit(Hit {
                            value: entry.value.clone(),
                            tier: Tier::L1,
                        }));
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

    /// Records that a stale value was served because recomputation failed.
    pub fn note_stale_serve(&self, key: &str) {
        Counters::bump(&self.counters.stale_serves);
        tracing::debug!(key, "serving stale value after failed compute");
    }
}

#[cfg(test)]
mod tests;
