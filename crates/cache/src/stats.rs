//! The figures `/cache-stats` and the metrics endpoint report.
//!
//! Operators size the cache and judge Redis from these: how full L1 is
//! against its limits, hit rates per tier, how often single-flight and
//! stale-on-error saved a computation, and what the L2 breaker thinks. The
//! report is assembled on demand from the counters and both tiers, so
//! serving requests never pays for it.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::TieredCache;

/// Hit rate in percent with one decimal, 0 when nothing was asked yet.
fn hit_rate(hits: u64, misses: u64) -> f64 {
    let total = hits + misses;
    if total == 0 {
        0.0
    } else {
        (hits as f64 * 1000.0 / total as f64).round() / 10.0
    }
}

/// L1 figures.
#[derive(Debug, Clone, Serialize)]
pub struct L1Stats {
    /// Entries in L1 right now.
    pub entries: u64,
    /// Bytes L1 counts against `max_bytes` (keys plus values, each at least
    /// the per-entry floor).
    pub weighted_size_bytes: u64,
    /// Configured entry cap.
    pub max_entries: u64,
    /// Configured byte cap.
    pub max_bytes: u64,
    /// Fresh L1 hits since start.
    pub hits: u64,
    /// Lookups L1 could not answer fresh since start (a stale entry counts
    /// as a miss).
    pub misses: u64,
    /// `hits` out of all lookups, in percent with one decimal; 0 before any.
    pub hit_rate_percent: f64,
    /// The global L1 TTL, for keys without a family policy.
    pub default_ttl_seconds: u64,
    /// Each component share of L1 (see the manifest's `cache_l1_mib`),
    /// the host's share last.
    pub partitions: Vec<crate::PartitionStats>,
}

/// L2 figures.
#[derive(Debug, Clone, Serialize)]
pub struct L2Stats {
    /// Whether an L2 is configured at all.
    pub configured: bool,
    /// "standalone", "cluster" or "none": operators reading stats from one
    /// instance should see which kind of Redis it shares.
    pub mode: &'static str,
    /// Whether the breaker (every primary's, in a cluster) is closed; no
    /// round trip is made for this.
    pub healthy: bool,
    /// The worst breaker state: `closed`, `open`, `half-open`, or `none`
    /// without an L2.
    pub breaker: &'static str,
    /// Reads Redis answered with a value since start.
    pub hits: u64,
    /// Reads Redis answered with no value since start (failed reads are
    /// `errors`, not misses).
    pub misses: u64,
    /// `hits` out of hits plus misses, in percent with one decimal; 0 before any.
    pub hit_rate_percent: f64,
    /// Redis commands that failed or were skipped by an open breaker, since
    /// start.
    pub errors: u64,
    /// Background write-throughs that reached Redis since start.
    pub writes: u64,
    /// Duration of the latest Redis command, in milliseconds; 0 before any.
    pub last_latency_ms: f64,
    /// The global L2 TTL, for keys without a family policy.
    pub default_ttl_seconds: u64,
}

/// Whole-cache figures.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStats {
    /// This instance's L1.
    pub l1: L1Stats,
    /// The shared Redis tier, as this instance sees it.
    pub l2: L2Stats,
    /// L2 hits copied into L1 since start.
    pub promotions: u64,
    /// Leases handed out because no fresh value was found: misses a caller
    /// had to compute (and others may have waited for), since start.
    pub computes: u64,
    /// Leases handed out to refresh a value that was still fresh (families
    /// with `early_refresh`), since start: upstream calls no reader waited
    /// for. `computes + early_refreshes` is every computation leased.
    pub early_refreshes: u64,
    /// Times a caller served the stale copy because recomputing failed
    /// (after a failed early refresh, the copy was still fresh).
    pub stale_serves: u64,
    /// Times a caller waited for another's computation of the same key
    /// instead of computing it too.
    pub coalesced_waits: u64,
    /// Keys being computed under a lease right now.
    pub in_flight: usize,
    /// Remembered failures answered since start: each one is an answer
    /// that did not cost a computation (nor an upstream call).
    pub negative_hits: u64,
    /// `negative_hits` per key family: the configured families, and
    /// `other` for the rest.
    pub negative_hits_by_family: BTreeMap<String, u64>,
    /// Failures remembered (for the family's negative TTL) since start.
    pub negative_fills: u64,
    /// `family:*` clears done in one Redis command (by moving the family
    /// to a new generation) since start.
    pub family_clears: u64,
    /// Families this instance dropped from L1 after resubscribing, because
    /// they changed while it was not listening.
    pub resync_family_drops: u64,
    /// Times this instance dropped its whole L1 after resubscribing (it
    /// could not tell which families changed).
    pub resync_full_drops: u64,
    /// Values warm-ups loaded into L1 from the shared record of hot keys
    /// since start.
    pub warmed_keys: u64,
}

impl TieredCache {
    /// Figures for every tier.
    pub async fn stats(&self) -> CacheStats {
        let partitions = self.l1.partitions().await;
        let (entries, weighted) = crate::l1::totals(&partitions);
        let limits = self.l1.limits();
        let (l1_hits, l1_misses) = self.counters.snapshot_l1();
        let (l2_hits, l2_misses, l2_errors, l2_writes) = self.counters.snapshot_l2();
        let (promotions, computes, early_refreshes, stale_serves, coalesced_waits) =
            self.counters.snapshot_flow();
        let (negative_hits_by_family, negative_fills) = self.counters.snapshot_negative();
        let negative_hits = negative_hits_by_family.values().sum();
        let (family_clears, resync_family_drops, resync_full_drops) =
            self.counters.snapshot_families();
        let (l2_healthy, breaker, latency) = match &self.l2 {
            Some(l2) => {
                let state = l2.breaker_state();
                (
                    state == strata_breaker::BreakerState::Closed,
                    state.as_str(),
                    l2.last_latency(),
                )
            }
            None => (false, "none", Duration::ZERO),
        };
        CacheStats {
            l1: L1Stats {
                entries,
                weighted_size_bytes: weighted,
                max_entries: limits.max_entries,
                max_bytes: limits.max_bytes,
                hits: l1_hits,
                misses: l1_misses,
                hit_rate_percent: hit_rate(l1_hits, l1_misses),
                default_ttl_seconds: self.settings.l1_ttl.as_secs(),
                partitions,
            },
            l2: L2Stats {
                configured: self.l2.is_some(),
                mode: self
                    .l2
                    .as_ref()
                    .map_or("none", |l2| l2.backplane().topology().mode()),
                healthy: l2_healthy,
                breaker,
                hits: l2_hits,
                misses: l2_misses,
                hit_rate_percent: hit_rate(l2_hits, l2_misses),
                errors: l2_errors,
                writes: l2_writes,
                last_latency_ms: latency.as_secs_f64() * 1000.0,
                default_ttl_seconds: self.settings.l2_ttl.as_secs(),
            },
            promotions,
            computes,
            early_refreshes,
            stale_serves,
            coalesced_waits,
            in_flight: self.flights.in_flight(),
            negative_hits,
            negative_hits_by_family,
            negative_fills,
            family_clears,
            resync_family_drops,
            resync_full_drops,
            warmed_keys: self.counters.snapshot_warmed(),
        }
    }

    /// Entries of one key family in this instance's L1.
    pub fn family_entries(&self, family: &str) -> u64 {
        self.l1
            .count_matching(|key| strata_keys::family(key) == family)
    }

    /// This instance's L1 value for `key`, fresh or not, without touching
    /// statistics (for reporting, not serving). A remembered failure is not
    /// a value.
    pub async fn peek_l1(&self, key: &str) -> Option<Bytes> {
        let entry = self.l1_get(key).await?;
        match crate::stored::Stored::decode(entry.value.clone()) {
            crate::stored::Stored::Value(value) => Some(value),
            crate::stored::Stored::Negative(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hit_rate;

    #[test]
    fn hit_rate_is_a_rounded_percentage() {
        assert_eq!(hit_rate(0, 0), 0.0);
        assert_eq!(hit_rate(2847, 312), 90.1);
        assert_eq!(hit_rate(1, 0), 100.0);
    }
}
