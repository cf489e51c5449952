//! Refreshing hot keys before they expire: probabilistic early expiration
//! ("XFetch", Vattani, Chierichetti and Lowenstein, VLDB 2015).
//!
//! Single-flight stops a stampede at expiry, but every reader of a hot key
//! still waits for the one recomputation: the key costs its readers a miss
//! per TTL. With early refresh (a family's opt-in), each cache-or-compute
//! caller that finds a fresh L1 entry draws whether to recompute it now:
//! it does when `now - delta * beta * ln(rand) >= expiry`, `delta` being
//! how long the value took to compute and `rand` uniform in (0, 1]. The
//! chance rises steeply as expiry nears and with the key's read rate, so a
//! hot key is refreshed by one caller about `delta * beta * ln(reads per
//! delta)` ahead of its expiry, and a cold one is left to expire.
//!
//! The refresh is a lease like a miss's, through the same flight table, but
//! only a caller that can lead it without waiting gets it; every other
//! caller, those during the refresh included, is answered with the current
//! value, which stays in place if the refresh fails or is abandoned (the
//! lease offers it as `stale`, so a failed refresh can still serve it).
//! Early refreshes are counted apart from misses: nobody waited for them.
//!
//! Only values this process computed are refreshed early: it alone knows
//! their `delta`. An instance that read the value from L2 (or had it `set`)
//! keeps it until it expires; by then the computing instance has written
//! the refreshed value to L2 with a full TTL, and coherence has dropped
//! other copies of the old one, so the others find the new value in L2
//! instead of computing. Were the computing instance to go quiet, the next
//! instance to miss computes, and holds the `delta` from then on. A
//! per-family fallback `delta` was considered and left out: it would make
//! every instance refresh every hot key, multiplying upstream calls by the
//! number of instances, the very stampede this avoids, and a guessed
//! compute time is wrong for most keys of a family.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::counters::Counters;
use crate::l1::L1Entry;
use crate::lease::{Lease, Lookup};
use crate::read::Hit;
use crate::{FamilyPolicy, TieredCache};

/// Whether a value that expires in `remaining` and took `delta` to compute
/// is due for refresh, for a `draw` uniform in (0, 1]: XFetch's
/// `now - delta * beta * ln(draw) >= expiry`. At expiry it always is; with
/// no compute time it never is before.
pub(crate) fn due(remaining: Duration, delta: Duration, beta: f64, draw: f64) -> bool {
    let ahead = delta.as_secs_f64() * beta * -draw.ln();
    ahead >= remaining.as_secs_f64()
}

/// A uniform draw in (0, 1], never 0, whose logarithm is not a number.
fn draw() -> f64 {
    1.0 - fastrand::f64()
}

impl TieredCache {
    /// Whether a cache-or-compute caller that found `entry` fresh for `key`
    /// should refresh it now (a fresh draw on every call).
    pub(crate) fn refresh_due(&self, key: &str, entry: &L1Entry) -> bool {
        let Some(delta) = entry.delta else {
            return false;
        };
        let Some(beta) = self.early_refresh_beta(key) else {
            return false;
        };
        let remaining = entry.fresh_until.saturating_duration_since(Instant::now());
        due(remaining, delta, beta, draw())
    }

    /// The XFetch beta of `key`'s family, if it refreshes early (as of the
    /// active manifest: a deploy that turns it off stops refreshes at once).
    pub(crate) fn early_refresh_beta(&self, key: &str) -> Option<f64> {
        self.families
            .load()
            .get(strata_keys::family(key))
            .and_then(FamilyPolicy::early_refresh)
    }

    /// The lease to refresh `key` early, if nobody is computing it; else
    /// `hit`, the value `entry` holds, which the caller gets at once.
    pub(crate) async fn refresh_early(&self, key: &str, hit: Hit, entry: Arc<L1Entry>) -> Lookup {
        let Some(guard) = self.flights.try_lead(key) else {
            return Lookup::Hit(hit);
        };
        // A refresh that finished between the probe and the lead replaced
        // the entry; the new one is not due. (The refresher writes L1
        // before it releases the flight, so this look sees its value.)
        let current = self
            .l1
            .get(key)
            .await
            .is_some_and(|now| Arc::ptr_eq(&now, &entry));
        if !current {
            return Lookup::Hit(hit);
        }
        Counters::bump(&self.counters.early_refreshes);
        tracing::debug!(key, "refreshing ahead of expiry");
        Lookup::Compute(Lease::new(key, Some(hit.value), guard, true))
    }
}

#[cfg(test)]
mod tests;
