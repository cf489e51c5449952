//! The host-wide bound on parked warm instances.
//!
//! A parked instance keeps its slots of the engine's pooling allocator (an
//! instance, its memories, tables and fiber stack). Admission lets up to
//! `max_concurrent_requests` instances run at once, so parked ones may take
//! only what is left of the pool beyond that (and at most half of it); and
//! since a component may use more memories or tables per instance than the
//! pool's averages, an instantiation that still finds the pool full
//! empties every warm pool and tries once more.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::WarmPool;

/// See the module documentation.
pub(crate) struct ParkingSpace {
    parked: AtomicUsize,
    capacity: usize,
    /// Every warm pool, so room can be made in all of them.
    pools: Mutex<Vec<Weak<WarmPool>>>,
}

impl ParkingSpace {
    /// Room for `capacity` parked instances across all components.
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            parked: AtomicUsize::new(0),
            capacity,
            pools: Mutex::new(Vec::new()),
        })
    }

    /// How many instances may wait, given the engine's pool size and how
    /// many requests admission lets run at once.
    pub(crate) fn capacity_for(max_instances: u32, max_running: usize) -> usize {
        let slots = usize::try_from(max_instances).unwrap_or(usize::MAX);
        slots.saturating_sub(max_running).min(slots / 2)
    }

    pub(super) fn register(&self, pool: &Arc<WarmPool>) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|pool| pool.strong_count() > 0);
        pools.push(Arc::downgrade(pool));
    }

    pub(super) fn try_take(&self) -> bool {
        self.parked
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .is_ok()
    }

    pub(super) fn give_back(&self, count: usize) {
        // Saturating: a miscount must not wrap and turn parking off.
        let _ = self
            .parked
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(count))
            });
    }

    /// Instances parked right now, across all components.
    pub(crate) fn parked(&self) -> usize {
        self.parked.load(Ordering::Acquire)
    }

    /// Drops every parked instance of every component; how many there were.
    pub(crate) fn evict_all(&self) -> usize {
        let pools: Vec<Arc<WarmPool>> = self
            .pools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        pools.iter().map(|pool| pool.evict()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_instances_leave_room_for_every_admitted_request() {
        assert_eq!(ParkingSpace::capacity_for(1000, 512), 488);
        assert_eq!(ParkingSpace::capacity_for(1000, 100), 500, "at most half");
        assert_eq!(
            ParkingSpace::capacity_for(16, 512),
            0,
            "no room: nothing parks"
        );
    }

    #[test]
    fn the_count_never_goes_above_capacity_or_below_zero() {
        let space = ParkingSpace::new(2);
        assert!(space.try_take());
        assert!(space.try_take());
        assert!(!space.try_take());
        space.give_back(5);
        assert_eq!(space.parked(), 0);
        assert!(space.try_take());
    }
}
