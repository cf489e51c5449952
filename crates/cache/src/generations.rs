//! Family generations: clearing a whole key family with one Redis command,
//! and resynchronising after missed invalidations family by family.
//!
//! A family (the key up to its first `:`) has a generation counter in one
//! Redis hash per installation, and its keys' Redis names embed it
//! (`market@3:btc`; generation 0 is the plain `market:btc`, so data written
//! before generations existed stays valid). Clearing `market:*` bumps the
//! counter: one `HINCRBY` whatever the number of keys, after which every
//! instance names `market` keys at the new generation and the old ones are
//! unreachable until their TTL removes them. `@` is never a key character,
//! so a generational name can never be a key a component chose.
//!
//! The same hash holds a change mark per family, bumped before every
//! per-key invalidation is broadcast and carried in its message. An
//! instance that lost its subscription compares the hash with the
//! generations and marks it has seen, and drops only the families that
//! changed meanwhile instead of its whole L1.
//!
//! Bounds: families come from keys components write, so the hash takes at
//! most [`MAX_FIELDS`] fields (checked atomically in Redis, so every
//! instance agrees). A family that gets no field of its own keeps
//! generation 0: clearing it falls back to SCAN+UNLINK, and its changes
//! bump the shared mark `c:*`, whose change makes a resync drop the whole
//! L1. The table here only holds families the hash holds, so the same
//! bound applies to it. Fields are never removed: a generation going back
//! would make old keys reachable again. If the hash itself is lost (a
//! Redis restart without persistence, which loses the cache keys too), its
//! `epoch` field changes and instances start over from it, dropping L1.
//!
//! Reads are the hot path: finding a family's generation is one lock-free
//! load of the table, a hash lookup and an atomic load; the table is only
//! copied when a family is first seen.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

/// Most fields the Redis hash takes (each family needs one or two).
pub(crate) const MAX_FIELDS: u64 = 8192;

/// Marks received ahead of a missing one, remembered per family; past
/// this, more are not tracked and the family is dropped at the next
/// resync (conservative, never stale).
const MAX_AHEAD: usize = 64;

/// The hash field of the shared change mark (`*` is no key character).
pub(crate) const ALL_MARK: &str = "c:*";

/// The field naming the hash's incarnation.
pub(crate) const EPOCH: &str = "epoch";

/// The field of `family`'s generation.
pub(crate) fn generation_field(family: &str) -> String {
    format!("g:{family}")
}

/// The field of a change mark: a family's, or the shared one.
pub(crate) fn mark_field(family: Option<&str>) -> String {
    family.map_or_else(|| ALL_MARK.to_string(), |family| format!("c:{family}"))
}

/// The family `pattern` clears entirely, when it is exactly `<family>:*`;
/// any other pattern is cleared key by key.
pub(crate) fn family_clear(pattern: &str) -> Option<&str> {
    let family = pattern.strip_suffix(":*")?;
    (!family.contains(':') && strata_keys::validate_key(family).is_ok()).then_some(family)
}

/// The family a pattern is confined to: its text before the first `:`,
/// when that text is literal (no glob character) and followed by `:`.
pub(crate) fn pattern_family(pattern: &str) -> Option<&str> {
    let (family, _) = pattern.split_once(':')?;
    (!family.contains(['*', '?'])).then_some(family)
}

/// The name of `key` at `generation`, without the namespace: the key
/// itself at generation 0, else the generation after the family part.
pub(crate) fn generational_key(key: &str, generation: u64) -> Cow<'_, str> {
    if generation == 0 {
        return Cow::Borrowed(key);
    }
    match key.split_once(':') {
        Some((family, rest)) => Cow::Owned(format!("{family}@{generation}:{rest}")),
        None => Cow::Owned(format!("{key}@{generation}")),
    }
}

/// The key and generation a name from [`generational_key`] stands for;
/// `None` for a name no generation produces.
pub(crate) fn parse_generational(name: &str) -> Option<(String, u64)> {
    let (head, rest) = match name.split_once(':') {
        Some((head, rest)) => (head, Some(rest)),
        None => (name, None),
    };
    let Some((family, generation)) = head.split_once('@') else {
        return Some((name.to_string(), 0));
    };
    let generation: u64 = generation.parse().ok().filter(|g| *g > 0)?;
    let key = match rest {
        Some(rest) => format!("{family}:{rest}"),
        None => family.to_string(),
    };
    Some((key, generation))
}

/// A change mark as a message carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mark {
    /// The family whose mark it is; `None` for the shared mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) family: Option<String>,
    pub(crate) value: u64,
}

/// Which change marks an instance has seen: every mark up to `through`,
/// and some beyond it (messages from several publishers may arrive out of
/// order, and one lost in between must still be noticed).
#[derive(Debug, Default)]
struct Marks {
    through: u64,
    ahead: BTreeSet<u64>,
}

impl Marks {
    fn saw(&mut self, mark: u64) {
        if mark > self.through && self.ahead.len() < MAX_AHEAD {
            self.ahead.insert(mark);
        }
        self.advance();
    }

    fn advance(&mut self) {
        while self.ahead.remove(&(self.through + 1)) {
            self.through += 1;
        }
    }

    /// Adopts the stored mark; whether some change up to it was not seen.
    fn resync(&mut self, stored: u64) -> bool {
        let missed = stored > self.through;
        if missed {
            self.through = stored;
            self.ahead.retain(|m| *m > stored);
            self.advance();
        }
        missed
    }
}

#[derive(Debug, Default)]
struct Family {
    generation: AtomicU64,
    marks: Mutex<Marks>,
}

impl Family {
    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a resynchronisation found changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Resync {
    /// Families whose generation or change mark moved: drop their L1 entries.
    pub(crate) families: Vec<String>,
    /// The shared mark moved or the hash was replaced: drop the whole L1.
    pub(crate) everything: bool,
}

/// See the module documentation.
pub(crate) struct Generations {
    families: ArcSwap<HashMap<Arc<str>, Arc<Family>>>,
    shared: Mutex<Marks>,
    epoch: Mutex<Option<String>>,
    loaded: AtomicBool,
    /// Whether the table was ever loaded: then, while the hash cannot be
    /// read, the last table it held is used (see [`L2::ready`]).
    ///
    /// [`L2::ready`]: crate::L2
    ever_loaded: AtomicBool,
    /// One load at a time; the others wait for it.
    pub(crate) loading: tokio::sync::Mutex<()>,
    /// Offered as the epoch if this instance creates the hash.
    pub(crate) epoch_candidate: String,
}

impl Default for Generations {
    fn default() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            families: ArcSwap::default(),
            shared: Mutex::default(),
            epoch: Mutex::default(),
            loaded: AtomicBool::new(false),
            ever_loaded: AtomicBool::new(false),
            loading: tokio::sync::Mutex::new(()),
            epoch_candidate: format!("{}-{nanos:x}", std::process::id()),
        }
    }
}

impl Generations {
    /// The current generation of `family` (0 when the hash has none).
    pub(crate) fn current(&self, family: &str) -> u64 {
        self.families
            .load()
            .get(family)
            .map_or(0, |f| f.generation.load(Ordering::Acquire))
    }

    /// The current generation of `key`'s family.
    pub(crate) fn of_key(&self, key: &str) -> u64 {
        self.current(strata_keys::family(key))
    }

    /// The family's entry, created if the table has room.
    fn entry(&self, family: &str) -> Option<Arc<Family>> {
        if let Some(found) = self.families.load().get(family) {
            return Some(found.clone());
        }
        let mut created = None;
        self.families.rcu(|table| {
            let mut table = HashMap::clone(table);
            if let Some(found) = table.get(family) {
                created = Some(found.clone());
            } else if (table.len() as u64) < MAX_FIELDS {
                let fresh = Arc::new(Family::default());
                table.insert(family.into(), fresh.clone());
                created = Some(fresh);
            } else {
                created = None;
            }
            table
        });
        if created.is_none() {
            tracing::error!(
                family,
                "family table full (another version's larger limit?); family not tracked"
            );
        }
        created
    }

    /// Raises `family`'s generation to `generation`; whether it rose.
    pub(crate) fn adopt(&self, family: &str, generation: u64) -> bool {
        self.entry(family)
            .is_some_and(|f| f.generation.fetch_max(generation, Ordering::AcqRel) < generation)
    }

    /// Records a change mark as seen (this instance's own, or a message's).
    pub(crate) fn saw(&self, mark: &Mark) {
        match &mark.family {
            Some(family) => {
                if let Some(entry) = self.entry(family) {
                    entry.marks().saw(mark.value);
                }
            }
            None => self
                .shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .saw(mark.value),
        }
    }

    /// Whether the table reflects the hash (loaded at least once since the
    /// last failed resync).
    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Whether the table was loaded at least once since start.
    pub(crate) fn ever_loaded(&self) -> bool {
        self.ever_loaded.load(Ordering::Acquire)
    }

    /// The table may have missed changes: the next L2 command reloads it.
    pub(crate) fn unload(&self) {
        self.loaded.store(false, Ordering::Release);
    }

    /// Adopts the hash's contents (`HGETALL`), saying what changed since
    /// this instance last knew. Generations only rise here (a concurrent
    /// clear of this instance may have raised one past the snapshot),
    /// unless the hash was replaced (its epoch changed), when the table
    /// starts over from it.
    pub(crate) fn resync(&self, fields: &HashMap<String, String>) -> Resync {
        let mut resync = Resync::default();
        let stored_epoch = fields.get(EPOCH).cloned();
        {
            let mut epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
            if epoch.is_some() && *epoch != stored_epoch {
                self.families.store(Arc::default());
                *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = Marks::default();
                resync.everything = true;
            }
            if stored_epoch.is_some() {
                *epoch = stored_epoch;
            }
        }
        for (field, value) in fields {
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            let changed = if field == ALL_MARK {
                resync.everything |= self
                    .shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .resync(value);
                continue;
            } else if let Some(family) = field.strip_prefix("g:") {
                self.adopt(family, value).then_some(family)
            } else if let Some(family) = field.strip_prefix("c:") {
                self.entry(family)
                    .is_some_and(|f| f.marks().resync(value))
                    .then_some(family)
            } else {
                None
            };
            if let Some(family) = changed
                && !resync.families.iter().any(|f| f == family)
            {
                resync.families.push(family.to_string());
            }
        }
        self.loaded.store(true, Ordering::Release);
        self.ever_loaded.store(true, Ordering::Release);
        resync
    }
}

#[cfg(test)]
mod tests;
