//! The event counts behind `/health`, `/cache-stats` and metrics.
//!
//! Every cache call bumps one or more of these, so they must cost next to
//! nothing: relaxed atomics, because they are statistics, not
//! synchronization. Snapshots are read per group for the stats report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) l1_hits: AtomicU64,
    pub(crate) l1_misses: AtomicU64,
    pub(crate) l2_hits: AtomicU64,
    pub(crate) l2_misses: AtomicU64,
    pub(crate) promotions: AtomicU64,
    pub(crate) computes: AtomicU64,
    pub(crate) early_refreshes: AtomicU64,
    pub(crate) stale_serves: AtomicU64,
    pub(crate) coalesced_waits: AtomicU64,
    pub(crate) l2_errors: AtomicU64,
    pub(crate) l2_writes: AtomicU64,
    /// Remembered failures reported to a caller, per key family: the
    /// families the operator configured (a bounded set), and
    /// [`OTHER_FAMILY`] for every other, so no caller can add a series.
    pub(crate) negative_hits: BTreeMap<String, AtomicU64>,
    /// Failures remembered by a lease.
    pub(crate) negative_fills: AtomicU64,
    /// Family clears done by moving the family to a new generation.
    pub(crate) family_clears: AtomicU64,
    /// Families whose L1 entries a resync dropped (changed while this
    /// instance was not listening).
    pub(crate) resync_family_drops: AtomicU64,
    /// Resyncs that dropped the whole L1 (generations unreadable, a
    /// change spanning families, or a replaced family hash).
    pub(crate) resync_full_drops: AtomicU64,
    /// Values a warm-up loaded into L1.
    pub(crate) warmed_keys: AtomicU64,
}

/// The family remembered-failure counts of unconfigured families go to.
pub(crate) const OTHER_FAMILY: &str = "other";

impl Counters {
    /// Counters for a cache whose configured families are `families`.
    pub(crate) fn for_families<'a>(families: impl Iterator<Item = &'a String>) -> Self {
        let negative_hits = families
            .map(|family| (family.clone(), AtomicU64::new(0)))
            .chain([(OTHER_FAMILY.to_string(), AtomicU64::new(0))])
            .collect();
        Self {
            negative_hits,
            ..Self::default()
        }
    }

    /// Counts a remembered failure reported for `key`.
    pub(crate) fn negative_hit(&self, key: &str) {
        let family = strata_keys::family(key);
        if let Some(counter) = self
            .negative_hits
            .get(family)
            .or_else(|| self.negative_hits.get(OTHER_FAMILY))
        {
            Self::bump(counter);
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot_l1(&self) -> (u64, u64) {
        (Self::read(&self.l1_hits), Self::read(&self.l1_misses))
    }

    pub(crate) fn snapshot_l2(&self) -> (u64, u64, u64, u64) {
        (
            Self::read(&self.l2_hits),
            Self::read(&self.l2_misses),
            Self::read(&self.l2_errors),
            Self::read(&self.l2_writes),
        )
    }

    /// Remembered failures reported, per family, and failures remembered.
    pub(crate) fn snapshot_negative(&self) -> (BTreeMap<String, u64>, u64) {
        let hits = self
            .negative_hits
            .iter()
            .map(|(family, counter)| (family.clone(), Self::read(counter)))
            .collect();
        (hits, Self::read(&self.negative_fills))
    }

    /// Family clears, families dropped by resyncs, whole-L1 resync drops.
    pub(crate) fn snapshot_families(&self) -> (u64, u64, u64) {
        (
            Self::read(&self.family_clears),
            Self::read(&self.resync_family_drops),
            Self::read(&self.resync_full_drops),
        )
    }

    pub(crate) fn snapshot_warmed(&self) -> u64 {
        Self::read(&self.warmed_keys)
    }

    pub(crate) fn snapshot_flow(&self) -> (u64, u64, u64, u64, u64) {
        (
            Self::read(&self.promotions),
            Self::read(&self.computes),
            Self::read(&self.early_refreshes),
            Self::read(&self.stale_serves),
            Self::read(&self.coalesced_waits),
        )
    }
}
