//! "No calls before T" for upstreams without a `[[upstreams]]` budget.
//!
//! An upstream that answered 429 with `Retry-After` has said when it will
//! take calls again; sending more before then only prolongs the penalty
//! (and, against a metered API, spends quota on refusals). Without a budget
//! entry there is no bucket to drain, so this process remembers the time
//! per allow-list entry. Keys are the entries that admitted a call, which
//! the manifest bounds, never a host a guest wrote; the map is capped all
//! the same, so no sequence of answers can grow it without limit.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most upstreams ever held; far above any manifest's allow-list. Entries
/// stay once made (their counters are metric series), so a full map takes
/// no new upstream rather than forgetting one.
const MAX_HOLDS: usize = 1024;

/// What was counted for one held upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HoldCounts {
    /// Calls refused while held.
    pub(crate) denied: u64,
    /// 429s with `Retry-After` that held it.
    pub(crate) holds: u64,
}

#[derive(Default)]
struct Entry {
    /// No call before this instant (a call at exactly it goes ahead).
    until: Option<Instant>,
    counts: HoldCounts,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Holds {
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl Holds {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        // Instants and counters; a panic elsewhere cannot leave them
        // inconsistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long calls through `entry` must still wait, if it is held
    /// (counted as a denial). A call at exactly the end of the hold goes
    /// ahead: that is the one the upstream's own `Retry-After` asked for.
    pub(crate) fn held(&self, entry: &str, now: Instant) -> Option<Duration> {
        let mut entries = self.lock();
        let held = entries.get_mut(entry)?;
        let until = held.until.filter(|until| now < *until)?;
        held.counts.denied += 1;
        Some(until - now)
    }

    /// Refuses calls through `entry` until `now + after` (a later hold
    /// already on stays). Returns whether the hold was recorded: a new
    /// upstream is not taken once the map is full.
    pub(crate) fn hold(&self, entry: &str, now: Instant, after: Duration) -> bool {
        let until = now + after;
        let mut entries = self.lock();
        if !entries.contains_key(entry) && entries.len() >= MAX_HOLDS {
            return false;
        }
        let held = entries.entry(entry.to_string()).or_default();
        held.until = Some(held.until.map_or(until, |current| current.max(until)));
        held.counts.holds += 1;
        true
    }

    /// Counters per upstream ever held, by name.
    pub(crate) fn counts(&self) -> Vec<(String, HoldCounts)> {
        self.lock()
            .iter()
            .map(|(entry, held)| (entry.clone(), held.counts))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_entry_refuses_until_the_end_inclusive() {
        let holds = Holds::default();
        let start = Instant::now();
        assert!(holds.hold("api.example.com:443", start, Duration::from_secs(2)));
        let during = start + Duration::from_millis(1999);
        assert_eq!(
            holds.held("api.example.com:443", during),
            Some(Duration::from_millis(1))
        );
        assert_eq!(holds.held("other.example.com", during), None);
        assert_eq!(
            holds.held("api.example.com:443", start + Duration::from_secs(2)),
            None
        );
    }

    #[test]
    fn the_map_never_grows_past_its_cap() {
        let holds = Holds::default();
        let start = Instant::now();
        for n in 0..MAX_HOLDS + 10 {
            holds.hold(&format!("h{n}"), start, Duration::from_secs(60));
        }
        assert_eq!(holds.counts().len(), MAX_HOLDS);
        assert!(
            holds.hold("h0", start, Duration::from_secs(1)),
            "a known upstream is still held"
        );
    }

    #[test]
    fn refusals_and_holds_are_counted_per_upstream() {
        let holds = Holds::default();
        let start = Instant::now();
        holds.hold("a", start, Duration::from_secs(1));
        holds.held("a", start);
        holds.held("a", start + Duration::from_secs(1));
        assert_eq!(
            holds.counts(),
            [(
                "a".to_string(),
                HoldCounts {
                    denied: 1,
                    holds: 1
                }
            )]
        );
    }
}
