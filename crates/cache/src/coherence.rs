//! Cross-instance L1 coherence over Redis pub/sub.
//!
//! Every instance keeps its own L1, so a delete, clear or new value on one
//! instance must reach the others, or they would keep serving what was
//! removed. After the L2 side of a change completes, the instance publishes
//! an [`Invalidation`]; every subscribed instance (itself included) drops
//! the matching keys from its L1 and acknowledges on the publisher's ack
//! channel. Explicit deletes and clears wait (briefly, bounded) for all
//! acknowledgements, so once they return no instance serves what was
//! cleared.
//!
//! A subscriber that loses its connection cannot know which messages it
//! missed, so each per-key or pattern change first raises its family's
//! change mark in Redis and carries it (see `generations`). On every
//! (re)subscription the instance reads all generations and marks in one
//! command and drops from L1 only the families that changed meanwhile; if
//! it cannot read them it drops its whole L1, and the next L2 command
//! reloads them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::counters::Counters;
use super::generations::{Generations, Mark, pattern_family};
use super::l1::L1;
use super::l2::L2;
use strata_backplane::Namespace;
use strata_digest::content_hash;

/// The pub/sub channel all instances share (inside the namespace).
const CHANNEL: &str = "cache:invalidate";

/// Longest an explicit invalidation waits for acknowledgements.
const ACK_WAIT: Duration = Duration::from_millis(500);

fn ack_channel(namespace: &Namespace, origin: &str) -> String {
    namespace.channel(&format!("cache:ack:{origin}"))
}

/// What to drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub(crate) enum Target {
    Key(String),
    Pattern(String),
    /// `key` now holds a value with this SHA-256 digest. A receiver that
    /// already picked up that very value (from L2, racing this message)
    /// keeps it; any other copy is dropped.
    Stored {
        key: String,
        digest: String,
    },
    /// Every key of `family` moved to `generation` (a family clear).
    Family {
        family: String,
        generation: u64,
    },
}

impl Target {
    /// The family whose change mark the target raises; `None` for the
    /// shared mark (a pattern spanning families).
    fn mark_family(&self) -> Option<&str> {
        match self {
            Target::Key(key) | Target::Stored { key, .. } => Some(strata_keys::family(key)),
            Target::Pattern(pattern) => pattern_family(pattern),
            Target::Family { family, .. } => Some(family),
        }
    }
}

/// One broadcast change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Invalidation {
    /// The publishing instance; acknowledgements go to its ack channel.
    pub(crate) origin: String,
    pub(crate) id: u64,
    pub(crate) target: Target,
    /// The change mark raised for this change, when Redis raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mark: Option<Mark>,
}

/// Drops every L1 entry of `family`; how many.
pub(crate) async fn drop_family(l1: &L1, family: &str) -> u64 {
    l1.remove_matching(|key| strata_keys::family(key) == family)
        .await
}

/// Applies one invalidation to `l1` and the family table.
async fn apply(l1: &L1, generations: &Generations, own_origin: &str, message: &Invalidation) {
    if message.origin == own_origin {
        return;
    }
    if let Some(mark) = &message.mark {
        generations.saw(mark);
    }
    match &message.target {
        Target::Key(key) => {
            l1.remove(key).await;
        }
        Target::Stored { key, digest } => {
            let current = l1
                .get(key)
                .await
                .is_some_and(|entry| content_hash(&entry.value) == *digest);
            if !current {
                l1.remove(key).await;
            }
        }
        Target::Pattern(pattern) => {
            if strata_keys::validate_pattern(pattern).is_ok() {
                l1.remove_matching(|key| strata_keys::glob_match(pattern, key))
                    .await;
            }
        }
        Target::Family { family, generation } => {
            generations.adopt(family, *generation);
            drop_family(l1, family).await;
        }
    }
    tracing::debug!(origin = message.origin, target = ?message.target, "applied remote invalidation");
}

/// See the module documentation.
pub(crate) struct Coherence {
    origin: String,
    l2: Arc<L2>,
    next_id: AtomicU64,
    /// Acknowledgement counters of invalidations awaiting them, by id.
    pending: Mutex<HashMap<u64, watch::Sender<u64>>>,
    counters: Arc<Counters>,
}

impl Coherence {
    /// Starts the subscriber and returns the publishing side.
    pub(crate) fn start(origin: String, l2: Arc<L2>, l1: L1, counters: Arc<Counters>) -> Arc<Self> {
        let coherence = Arc::new(Self {
            origin,
            l2,
            next_id: AtomicU64::new(1),
            pending: Mutex::default(),
            counters,
        });
        tokio::spawn(listen(coherence.clone(), l1));
        coherence
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, watch::Sender<u64>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells every instance to drop `target` from its L1. With `wait`, returns
    /// once all receivers acknowledged (or [`ACK_WAIT`] passed). A failure is
    /// logged: the other instances' copies then live until their TTL.
    ///
    /// Except for a family clear (whose new generation is its own record),
    /// the target's change mark is raised first, so an instance that misses
    /// the message finds the change at its next resync. A mark raised for a
    /// message that then fails to go out only makes that resync drop the
    /// family needlessly.
    pub(crate) async fn broadcast(&self, target: Target, wait: bool) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mark = if matches!(target, Target::Family { .. }) {
            None
        } else {
            match self.l2.bump_mark(target.mark_family()).await {
                Ok(mark) => Some(mark),
                Err(e) => {
                    tracing::warn!(target = ?target, error = %e, "change mark not raised; an instance missing this invalidation will not notice");
                    None
                }
            }
        };
        let message = Invalidation {
            origin: self.origin.clone(),
            id,
            target,
            mark,
        };
        let payload = match serde_json::to_string(&message) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an invalidation");
                return;
            }
        };
        let mut acks = if wait {
            let (tx, rx) = watch::channel(0);
            self.pending().insert(id, tx);
            Some(rx)
        } else {
            None
        };
        let channel = self.l2.backplane().namespace().channel(CHANNEL);
        match self.l2.publish(&channel, payload).await {
            Ok(receivers) => {
                if let Some(acks) = &mut acks {
                    let all = tokio::time::timeout(ACK_WAIT, acks.wait_for(|n| *n >= receivers));
                    if all.await.is_err() {
                        tracing::warn!(
                            id,
                            receivers,
                            "not every instance acknowledged an invalidation in time"
                        );
                    }
                }
            }
            Err(e) => tracing::warn!(
                target = ?message.target,
                error = %e,
                "invalidation not broadcast; other instances keep their copy until its TTL"
            ),
        }
        if wait {
            self.pending().remove(&id);
        }
    }

    fn acknowledged(&self, id: u64) {
        if let Some(tx) = self.pending().get(&id) {
            tx.send_modify(|n| *n += 1);
        }
    }
}

/// Subscribes for as long as the process lives, reconnecting after errors.
async fn listen(coherence: Arc<Coherence>, l1: L1) {
    let backplane = coherence.l2.backplane().clone();
    let namespace = backplane.namespace().clone();
    let own_acks = ack_channel(&namespace, &coherence.origin);
    let invalidations = namespace.channel(CHANNEL);
    let generations = coherence.l2.generations().clone();
    loop {
        match backplane.subscribe(&[&invalidations, &own_acks]).await {
            Ok(pubsub) => {
                resync(&coherence, &l1).await;
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Ok(payload) = message.get_payload::<String>() else {
                        continue;
                    };
                    if message.get_channel_name() == own_acks {
                        if let Ok(id) = payload.parse::<u64>() {
                            coherence.acknowledged(id);
                        }
                        continue;
                    }
                    match serde_json::from_str::<Invalidation>(&payload) {
                        Ok(invalidation) => {
                            apply(&l1, &generations, &coherence.origin, &invalidation).await;
                            let channel = ack_channel(&namespace, &invalidation.origin);
                            if let Err(e) = coherence
                                .l2
                                .notify(&channel, invalidation.id.to_string())
                                .await
                            {
                                tracing::debug!(error = %e, "cannot acknowledge an invalidation");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "ignoring malformed cache invalidation")
                        }
                    }
                }
                tracing::warn!("cache invalidation subscription lost; reconnecting");
            }
            Err(e) => tracing::debug!(error = %e, "cannot subscribe to cache invalidations"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// After (re)subscribing: drops from L1 the families whose generation or
/// change mark moved while this instance was not listening (at start,
/// everything this instance may hold from before); the whole L1 when that
/// cannot be known.
async fn resync(coherence: &Coherence, l1: &L1) {
    let generations = coherence.l2.generations();
    match coherence.l2.family_fields().await {
        Ok(fields) => {
            let resync = generations.resync(&fields);
            if resync.everything {
                let dropped = l1.remove_matching(|_| true).await;
                Counters::bump(&coherence.counters.resync_full_drops);
                tracing::info!(dropped, "cache invalidations resynchronised; cleared L1");
                return;
            }
            let mut dropped = 0;
            for family in &resync.families {
                let removed = drop_family(l1, family).await;
                if removed > 0 {
                    dropped += removed;
                    Counters::bump(&coherence.counters.resync_family_drops);
                }
            }
            tracing::info!(
                families = resync.families.len(),
                dropped,
                "cache invalidations resynchronised; dropped changed families"
            );
        }
        Err(e) => {
            generations.unload();
            let dropped = l1.remove_matching(|_| true).await;
            Counters::bump(&coherence.counters.resync_full_drops);
            tracing::warn!(error = %e, dropped, "cannot read family generations; cleared L1");
        }
    }
}

#[cfg(test)]
mod tests;
