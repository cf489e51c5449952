//! The event counts behind `/health`, `/cache-stats` and metrics.
//!
//! Every cache call bumps one or more of these, so they must cost next to
//! nothing: relaxed atomics, because they are statistics, not
//! synchronization. Snapshots are read per group for the stats report.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) l1_hits: AtomicU64,
    pub(crate) l1_misses: AtomicU64,
    pub(crate) l2_hits: AtomicU64,
    pub(crate) l2_misses: AtomicU64,
    pub(crate) promotions: AtomicU64,
    pub(crate) computes: AtomicU64,
    pub(crate) stale_serves: AtomicU64,
    pub(crate) coalesced_waits: AtomicU64,
    pub(crate) l2_errors: AtomicU64,
    pub(crate) l2_writes: AtomicU64,
    /// Remembered failures found fresh (on either tier).
    pub(crate) negative_hits: AtomicU64,
    /// Failures remembered by a lease.
    pub(crate) negative_fills: AtomicU64,
}

impl Counters {
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

    pub(crate) fn snapshot_negative(&self) -> (u64, u64) {
        (
            Self::read(&self.negative_hits),
            Self::read(&self.negative_fills),
        )
    }

    pub(crate) fn snapshot_flow(&self) -> (u64, u64, u64, u64) {
        (
            Self::read(&self.promotions),
            Self::read(&self.computes),
            Self::read(&self.stale_serves),
            Self::read(&self.coalesced_waits),
        )
    }
}
