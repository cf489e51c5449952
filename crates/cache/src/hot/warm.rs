//! Loading the shared record of hot keys into L1 at start.
//!
//! A warm-up runs before the instance reports healthy, so it must never
//! hold the start up for long nor fail it: it stops at a deadline, a key
//! count and a byte budget, and Redis being down or slow only means the
//! instance starts cold, which the report says. Values are read in
//! batches of GET+PTTL pairs sent at once on the multiplexed connection
//! (each to its key's primary in a cluster), hottest first, so a warm-up
//! cut short has loaded the keys that matter most. A loaded value is kept
//! in L1 no longer than Redis still keeps it, the rule every L2 promotion
//! follows, so warming never serves what Redis already dropped.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::TieredCache;
use crate::counters::Counters;
use crate::stored::Stored;

/// Keys read from Redis per pipelined round trip.
const BATCH: usize = 64;

/// How much a warm-up may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmLimits {
    /// Longest the whole warm-up may take; it stops (and reports) when
    /// this has passed.
    pub deadline: Duration,
    /// Most keys read from the record.
    pub max_keys: usize,
    /// Most bytes (keys plus values) loaded into L1.
    pub max_bytes: u64,
}

/// Why a warm-up ended before it had looked at every recorded key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarmStop {
    /// There is no L2, so there is no record to warm from.
    NoL2,
    /// The deadline passed.
    Deadline,
    /// The next value would have gone over the byte budget.
    ByteBudget,
    /// Redis failed a read (or its breaker is open); carries why.
    Unavailable(String),
}

/// What a warm-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WarmUp {
    /// Keys the record named (after dropping those this instance keeps in
    /// L1 only or already holds fresh).
    pub recorded: usize,
    /// Keys whose values were asked of Redis.
    pub fetched: usize,
    /// Values loaded into L1; a key Redis no longer holds, or holds as a
    /// remembered failure, is fetched but not loaded.
    pub loaded: usize,
    /// Bytes of keys and values loaded.
    pub bytes: u64,
    /// Why it ended early; `None` when it went through the whole record.
    pub stopped: Option<WarmStop>,
}

impl TieredCache {
    /// The limits a start should use: 2 s, the record's size in keys, and
    /// a quarter of L1's byte budget (so a warm-up never crowds out what
    /// the first requests bring in).
    pub fn warm_limits(&self) -> WarmLimits {
        WarmLimits {
            deadline: Duration::from_secs(2),
            max_keys: self.settings.hot.recorded_keys,
            max_bytes: self.settings.l1.max_bytes / 4,
        }
    }

    /// Loads the hottest recorded keys (see the module documentation) into
    /// L1, so the first requests for them are L1 hits. Never fails, and
    /// every Redis step is cut off at `limits.deadline`.
    pub async fn warm_up(&self, limits: WarmLimits) -> WarmUp {
        let deadline = Instant::now() + limits.deadline;
        let mut report = WarmUp::default();
        report.stopped = self.warm_into(&limits, deadline, &mut report).await;
        tracing::info!(
            recorded = report.recorded,
            loaded = report.loaded,
            bytes = report.bytes,
            stopped = ?report.stopped,
            "L1 warm-up done"
        );
        report
    }

    /// Fills `report` as it goes; returns why it stopped early, if it did.
    async fn warm_into(
        &self,
        limits: &WarmLimits,
        deadline: Instant,
        report: &mut WarmUp,
    ) -> Option<WarmStop> {
        let Some(l2) = self.l2.clone() else {
            return Some(WarmStop::NoL2);
        };
        if Instant::now() >= deadline {
            return Some(WarmStop::Deadline);
        }
        // The family generations first: values are tagged with them as
        // they are loaded, and a tag from before they are known would
        // hide every value of a family ever cleared.
        match tokio::time::timeout_at(deadline, l2.ready()).await {
            Err(_) => return Some(WarmStop::Deadline),
            Ok(Err(e)) => return Some(WarmStop::Unavailable(e.to_string())),
            Ok(Ok(())) => {}
        }
        let names = self.settings.hot.record_names();
        let records =
            match tokio::time::timeout_at(deadline, l2.read_hot(&names, limits.max_keys)).await {
                Err(_) => return Some(WarmStop::Deadline),
                Ok(Err(e)) => {
                    self.note_l2_error("warm_up", &names[0], &e);
                    return Some(WarmStop::Unavailable(e.to_string()));
                }
                Ok(Ok(records)) => records,
            };
        let keys = self.worth_loading(records, limits.max_keys).await;
        report.recorded = keys.len();
        for batch in keys.chunks(BATCH) {
            if Instant::now() >= deadline {
                return Some(WarmStop::Deadline);
            }
            let wanted: Vec<&str> = batch.iter().map(String::as_str).collect();
            // Taken before the read, as a promotion takes it (see `probe`).
            let generations: Vec<u64> = batch.iter().map(|key| self.generation(key)).collect();
            let Ok(replies) = tokio::time::timeout_at(deadline, l2.get_each(&wanted)).await else {
                return Some(WarmStop::Deadline);
            };
            report.fetched += batch.len();
            let mut failure = None;
            for ((key, reply), generation) in batch.iter().zip(replies).zip(generations) {
                let (bytes, remaining) = match reply {
                    Ok(Some(entry)) => entry,
                    Ok(None) => continue,
                    Err(e) => {
                        self.note_l2_error("warm_up", key, &e);
                        failure.get_or_insert(e);
                        continue;
                    }
                };
                if !matches!(Stored::decode(bytes.clone()), Stored::Value(_))
                    || self.skips_l1(key, &bytes)
                {
                    continue;
                }
                let weight = (key.len() + bytes.len()) as u64;
                if report.bytes + weight > limits.max_bytes {
                    return Some(WarmStop::ByteBudget);
                }
                let ttl = self.promotion_ttl(key, false, remaining);
                if ttl.is_zero() {
                    continue;
                }
                self.insert_l1(key, bytes, ttl, generation).await;
                Counters::bump(&self.counters.warmed_keys);
                report.loaded += 1;
                report.bytes += weight;
            }
            if let Some(e) = failure {
                return Some(WarmStop::Unavailable(e.to_string()));
            }
        }
        None
    }

    /// The records merged (a key's highest score counts), hottest first, at
    /// most `limit`, without keys of `l1_only` families (nothing of theirs
    /// is in Redis) and keys this instance already holds fresh (its own
    /// copy is at least as new).
    async fn worth_loading(&self, records: Vec<Vec<(String, u64)>>, limit: usize) -> Vec<String> {
        let mut merged: std::collections::HashMap<String, u64> = Default::default();
        for (key, score) in records.into_iter().flatten() {
            let best = merged.entry(key).or_default();
            *best = (*best).max(score);
        }
        let mut ranked: Vec<(String, u64)> = merged.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut keys = Vec::new();
        for (key, _) in ranked {
            if keys.len() >= limit {
                break;
            }
            if self.l2_for(&key).is_none() {
                continue;
            }
            if self
                .l1
                .get(&key)
                .await
                .is_some_and(|entry| entry.is_fresh())
            {
                continue;
            }
            keys.push(key);
        }
        keys
    }
}
