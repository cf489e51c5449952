//! The figures `/cache-stats` and the metrics endpoint report.
//!
//! Operators size the cache and judge Redis from these: how full L1 is
//! against its limits, hit rates per tier, how often single-flight and
//! stale-on-error saved a computation, and what the L2 breaker thinks. The
//! report is assembled on demand from the counters and both tiers, so
//! serving requests never pays for it.

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
    pub entries: u64,
    pub weighted_size_bytes: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_rate_percent: f64,
    pub default_ttl_seconds: u64,
}

/// L2 figures.
#[derive(Debug, Clone, Serialize)]
pub struct L2Stats {
    pub configured: bool,
    /// "standalone", "cluster" or "none": operators reading stats from one
    /// instance should see which kind of Redis it shares.
    pub mode: &'static str,
    pub healthy: bool,
    pub breaker: &'static str,
    pub hits: u64,
    pub misses: u64,
    pub hit_rate_percent: f64,
    pub errors: u64,
    pub writes: u64,
    pub last_latency_ms: f64,
    pub default_ttl_seconds: u64,
}

/// Whole-cache figures.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStats {
    pub l1: L1Stats,
    pub l2: L2Stats,
    pub promotions: u64,
    pub computes: u64,
    pub stale_serves: u64,
    pub coalesced_waits: u64,
    pub in_flight: usize,
}

impl TieredCache {
    /// Figures for every tier.
    pub async fn stats(&self) -> CacheStats {
        let (entries, weighted) = self.l1.usage().await;
        let limits = self.l1.limits();
        let (l1_hits, l1_misses) = self.counters.snapshot_l1();
        let (l2_hits, l2_misses, l2_errors, l2_writes) = self.counters.snapshot_l2();
        let (promotions, computes, stale_serves, coalesced_waits) = self.counters.snapshot_flow();
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
            stale_serves,
            coalesced_waits,
            in_flight: self.flights.in_flight(),
        }
    }

    /// Entries of one key family in this instance's L1.
    pub fn family_entries(&self, family: &str) -> u64 {
        self.l1
            .count_matching(|key| strata_keys::family(key) == family)
    }

    /// This instance's L1 value for `key`, fresh or not, without touching
    /// statistics (for reporting, not serving).
    pub async fn peek_l1(&self, key: &str) -> Option<Bytes> {
        self.l1.get(key).await.map(|entry| entry.value.clone())
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
