//! Counters for `/health`, `/cache-stats` and metrics. Relaxed atomics: they
//! are statistics, not synchronization.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

#[derive(Debug, Default)]
pub struct Counters {
    pub l1_hits: AtomicU64,
    pub l1_misses: AtomicU64,
    pub l2_hits: AtomicU64,
    pub l2_misses: AtomicU64,
    pub promotions: AtomicU64,
    pub computes: AtomicU64,
    pub stale_serves: AtomicU64,
    pub coalesced_waits: AtomicU64,
    pub l2_errors: AtomicU64,
    pub l2_writes: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Hit rate in percent with one decimal, 0 when nothing was asked yet.
pub fn hit_rate(hits: u64, misses: u64) -> f64 {
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

impl Counters {
    pub fn snapshot_l1(&self) -> (u64, u64) {
        (Self::read(&self.l1_hits), Self::read(&self.l1_misses))
    }

    pub fn snapshot_l2(&self) -> (u64, u64, u64, u64) {
        (
            Self::read(&self.l2_hits),
            Self::read(&self.l2_misses),
            Self::read(&self.l2_errors),
            Self::read(&self.l2_writes),
        )
    }

    pub fn snapshot_flow(&self) -> (u64, u64, u64, u64) {
        (
            Self::read(&self.promotions),
            Self::read(&self.computes),
            Self::read(&self.stale_serves),
            Self::read(&self.coalesced_waits),
        )
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
