//! Which primary serves a key, without waiting for Redis to say.
//!
//! The cache keeps one circuit breaker per primary, so it must name a key's
//! primary on every command. Asking the cluster each time would put a round
//! trip (and a dependency on the cluster being up) on the hot path, so the
//! answer comes from a slot map read with the membership and refreshed in
//! the background once it is a few seconds old; one refresh at a time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::{Backplane, Member, NodeAddr, SLOTS, Topology, hash_slot};

/// How old the slot map may get before a lookup refreshes it.
const SLOT_MAP_MAX_AGE: Duration = Duration::from_secs(5);

/// Slot ownership as last read from the cluster.
#[derive(Default)]
pub(crate) struct SlotMap {
    /// Index into `primaries` for every slot; `u16::MAX` when unassigned.
    owners: Vec<u16>,
    primaries: Vec<NodeAddr>,
    read_at: Option<Instant>,
}

impl SlotMap {
    pub(crate) fn from_members(members: &[Member]) -> Self {
        let mut owners = vec![u16::MAX; SLOTS];
        let mut primaries = Vec::new();
        for member in members.iter().filter(|m| m.primary && !m.slots.is_empty()) {
            let Ok(index) = u16::try_from(primaries.len()) else {
                break;
            };
            primaries.push(member.addr.clone());
            for range in &member.slots {
                for slot in range.clone() {
                    owners[usize::from(slot)] = index;
                }
            }
        }
        Self {
            owners,
            primaries,
            read_at: Some(Instant::now()),
        }
    }

    fn owner(&self, slot: u16) -> Option<&NodeAddr> {
        let index = *self.owners.get(usize::from(slot))?;
        self.primaries.get(usize::from(index))
    }

    fn is_stale(&self) -> bool {
        self.read_at
            .is_none_or(|read_at| read_at.elapsed() > SLOT_MAP_MAX_AGE)
    }
}

impl Backplane {
    /// The primary that serves `key`, when the deployment is a cluster and
    /// the slot map knows. A stale map is refreshed in the background, so
    /// this never waits for Redis.
    pub fn owner_of(self: &Arc<Self>, key: &str) -> Option<NodeAddr> {
        if matches!(self.topology, Topology::Standalone(_)) {
            return None;
        }
        let map = self.slot_map.load();
        if map.is_stale()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
            && !self.refreshing.swap(true, Ordering::AcqRel)
        {
            let backplane = self.clone();
            runtime.spawn(async move {
                if let Err(e) = backplane.members().await {
                    tracing::debug!(error = %e, "cannot refresh the cluster slot map");
                    // Keep the old map for another period rather than
                    // retrying on every lookup while the cluster is away.
                    let old = backplane.slot_map.load();
                    backplane.slot_map.store(Arc::new(SlotMap {
                        owners: old.owners.clone(),
                        primaries: old.primaries.clone(),
                        read_at: Some(Instant::now()),
                    }));
                }
                backplane.refreshing.store(false, Ordering::Release);
            });
        }
        map.owner(hash_slot(key.as_bytes())).cloned()
    }
}
