//! "No calls before T" for upstreams without a `[[upstreams]]` budget.
//!
//! An upstream that answered 429 with `Retry-After` has said when it will
//! take calls again; sending more before then only prolongs the penalty
//! (and, against a metered API, spends quota on refusals). Without a budget
//! entry there is no bucket to drain, so this process remembers the time
//! per component and allow-list entry, as the breakers are kept: without a
//! `[[upstreams]]` entry nothing says the components share the upstream's
//! quota (each may call it with its own key), so one component's 429 must
//! not stop another's calls. Keys are what the manifest granted, never a
//! host a guest wrote; the map is capped all the same, so no sequence of
//! answers can grow it without limit. Counts are reported per entry.

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

/// Who is held: a component and the allow-list entry it calls through.
type Holder = (String, String);

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Holds {
    entries: Mutex<BTreeMap<Holder, Entry>>,
}

impl Holds {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Holder, Entry>> {
        // Instants and counters; a panic elsewhere cannot leave them
        // inconsistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long calls through `entry` must still wait, if it is held
    /// (counted as a denial). A call at exactly the end of the hold goes
    /// ahead: that is the one the upstream's own `Retry-After` asked for.
    pub(crate) fn held(&self, component: &str, entry: &str, now: Instant) -> Option<Duration> {
        let mut entries = self.lock();
        let held = entries.get_mut(&(component.to_string(), entry.to_string()))?;
        let until = held.until.filter(|until| now < *until)?;
        held.counts.denied += 1;
        Some(until - now)
    }

    /// Refuses calls through `entry` until `now + after` (a later hold
    /// already on stays). Returns whether the hold was recorded: a new
    /// upstream is not taken once the map is full.
    pub(crate) fn hold(&self, component: &str, entry: &str, now: Instant, after: Duration) -> bool {
        let until = now + after;
        let holder = (component.to_string(), entry.to_string());
        let mut entries = self.lock();
        if !entries.contains_key(&holder) && entries.len() >= MAX_HOLDS {
            return false;
        }
        let held = entries.entry(holder).or_default();
        held.until = Some(held.until.map_or(until, |current| current.max(until)));
        held.counts.holds += 1;
        true
    }

    /// Counters per allow-list entry ever held (summed over components),
    /// by name.
    pub(crate) fn counts(&self) -> Vec<(String, HoldCounts)> {
        let mut per_entry: BTreeMap<String, HoldCounts> = BTreeMap::new();
        for ((_, entry), held) in self.lock().iter() {
            let counts = per_entry.entry(entry.clone()).or_default();
            counts.denied += held.counts.denied;
            counts.holds += held.counts.holds;
        }
        per_entry.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_entry_refuses_until_the_end_inclusive() {
        let holds = Holds::default();
        let start = Instant::now();
        assert!(holds.hold("c", "api.example.com:443", start, Duration::from_secs(2)));
        let during = start + Duration::from_millis(1999);
        assert_eq!(
            holds.held("c", "api.example.com:443", during),
            Some(Duration::from_millis(1))
        );
        assert_eq!(holds.held("c", "other.example.com", during), None);
        assert_eq!(
            holds.held("c", "api.example.com:443", start + Duration::from_secs(2)),
            None
        );
    }

    #[test]
    fn the_map_never_grows_past_its_cap() {
        let holds = Holds::default();
        let start = Instant::now();
        for n in 0..MAX_HOLDS + 10 {
            holds.hold("c", &format!("h{n}"), start, Duration::from_secs(60));
        }
        assert_eq!(holds.counts().len(), MAX_HOLDS);
        assert!(
            holds.hold("c", "h0", start, Duration::from_secs(1)),
            "a known upstream is still held"
        );
    }

    #[test]
    fn refusals_and_holds_are_counted_per_upstream() {
        let holds = Holds::default();
        let start = Instant::now();
        holds.hold("c", "a", start, Duration::from_secs(1));
        holds.held("c", "a", start);
        holds.held("c", "a", start + Duration::from_secs(1));
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

    #[test]
    fn one_components_hold_does_not_hold_another() {
        let holds = Holds::default();
        let start = Instant::now();
        holds.hold(
            "market",
            "api.example.com:443",
            start,
            Duration::from_secs(60),
        );
        assert!(holds.held("market", "api.example.com:443", start).is_some());
        assert_eq!(holds.held("dashboard", "api.example.com:443", start), None);
    }
}
