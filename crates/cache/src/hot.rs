//! Warm start: which keys are hot, shared through Redis, so a new instance
//! can load them into L1 before it takes traffic.
//!
//! A fresh instance behind a load balancer otherwise starts with an empty
//! L1 and sends its first requests' worth of reads to Redis (or, for keys
//! Redis lost, to computation). Every instance counts its L1 hits per key
//! ([`HitSketch`]); a periodic task ([`TieredCache::record_hot_keys`])
//! writes the top keys of each family to a shared record; a starting
//! instance reads that record and fetches the values before it reports
//! healthy ([`TieredCache::warm_up`], bounded in time, keys and bytes, and
//! never failing the start).
//!
//! What is recorded: values only, and only of families that go to Redis.
//! An `l1_only` family has nothing in Redis to load, and a remembered
//! failure lives for seconds and answers "no such thing": loading those
//! would spend the warm-up budget on what is cheapest to recompute.
//!
//! How several instances share the record: it is one sorted set per
//! recording period (`NS:host:cache:hot:<period>`), written by every
//! instance with "keep the higher score", so one instance never wipes
//! another's keys and writing twice is harmless. A new period starts a
//! new set, so keys that were hot yesterday do not stay in the record for
//! ever; a reader merges the current and the previous period, because the
//! current one fills up only as the period goes. Each set is trimmed to
//! `recorded_keys` and expires three periods after its last write, so the
//! record of an abandoned deployment disappears by itself.

mod sketch;
mod warm;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::MissedTickBehavior;

use crate::{L2Error, TieredCache};
pub(crate) use sketch::HitSketch;
pub use warm::{WarmLimits, WarmStop, WarmUp};

/// Shortest recording period: a record per second is already plenty.
const SHORTEST_PERIOD: Duration = Duration::from_secs(1);

/// How hot keys are counted and recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HotKeySettings {
    /// Most keys whose L1 hits are counted at once (0: count nothing,
    /// record nothing).
    pub tracked_keys: usize,
    /// Count one L1 hit in this many, at random (1: every hit). Counting
    /// every hit adds about 15 % to an L1 hit's instructions, one in 8
    /// about 5 %; hot keys are hit often enough to rank the same either way.
    pub sample_one_in: u32,
    /// Most keys of one family recorded by one instance per period.
    pub keys_per_family: usize,
    /// Most keys a period's record holds, all families and instances
    /// together; also how many a warm-up reads by default.
    pub recorded_keys: usize,
    /// How often the recorder writes, and the period over which counts
    /// halve (at least 1 s).
    pub record_every: Duration,
}

impl Default for HotKeySettings {
    fn default() -> Self {
        Self {
            tracked_keys: 4096,
            sample_one_in: 8,
            keys_per_family: 64,
            recorded_keys: 1024,
            record_every: Duration::from_secs(30),
        }
    }
}

impl HotKeySettings {
    fn period(&self) -> Duration {
        self.record_every.max(SHORTEST_PERIOD)
    }

    /// The names of the current and the previous period's records.
    fn record_names(&self) -> [String; 2] {
        let period = self.period().as_secs().max(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            / period;
        [now, now.saturating_sub(1)].map(|p| format!("cache:hot:{p}"))
    }
}

impl TieredCache {
    /// Writes this instance's hottest keys (at most `keys_per_family` per
    /// family) to the shared record, then halves the counts so that keys
    /// no longer asked for age out. Returns how many keys were written (0
    /// without an L2). The host runs it every `record_every`
    /// ([`spawn_hot_key_recorder`](Self::spawn_hot_key_recorder)); a Redis
    /// failure is counted and logged like any other, and returned.
    pub async fn record_hot_keys(&self) -> Result<usize, L2Error> {
        let outcome = self.write_hot_keys().await;
        self.hot.decay();
        outcome
    }

    async fn write_hot_keys(&self) -> Result<usize, L2Error> {
        let Some(l2) = self.l2.as_ref() else {
            return Ok(0);
        };
        let settings = self.settings.hot;
        let mut counts: Vec<(String, u32)> = self
            .hot
            .counts()
            .into_iter()
            .filter(|(key, _)| self.l2_for(key).is_some())
            .collect();
        counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let scale = u64::from(self.hot.scale());
        let mut per_family: HashMap<&str, usize> = HashMap::new();
        let chosen: Vec<(String, u64)> = counts
            .iter()
            .filter(|(key, _)| {
                let taken = per_family.entry(strata_keys::family(key)).or_default();
                *taken += 1;
                *taken <= settings.keys_per_family
            })
            .take(settings.recorded_keys)
            .map(|(key, hits)| (key.clone(), u64::from(*hits) * scale))
            .collect();
        let [name, _] = settings.record_names();
        match l2
            .record_hot(
                &name,
                &chosen,
                settings.recorded_keys,
                settings.period() * 3,
            )
            .await
        {
            Ok(()) => {
                tracing::debug!(keys = chosen.len(), "hot keys recorded");
                Ok(chosen.len())
            }
            Err(e) => {
                self.note_l2_error("record_hot_keys", &name, &e);
                Err(e)
            }
        }
    }

    /// Starts the task that calls [`record_hot_keys`](Self::record_hot_keys)
    /// every `record_every` (the first time one period from now). It holds
    /// the cache weakly and ends once the cache is dropped.
    pub fn spawn_hot_key_recorder(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let cache = Arc::downgrade(self);
        let period = self.settings.hot.period();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            // The first tick is immediate, before anything was counted.
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(cache) = cache.upgrade() else {
                    return;
                };
                // A failure was counted and logged where it happened.
                let _ = cache.record_hot_keys().await;
            }
        })
    }
}

#[cfg(test)]
mod tests;
