//! The host's two-tier cache: L1 (moka, per process) in front of L2 (Redis,
//! shared), with per-family TTLs, write-through, single-flight and
//! stale-on-error.
//!
//! Read: L1 -> L2 -> miss; an L2 hit is promoted into L1. Write: L1 now, L2
//! in a background task so Redis latency never reaches the response. Redis
//! failures are logged and counted, never returned: the cache degrades to L1
//! plus recomputation.

mod coherence;
mod flight;
mod l1;
mod l2;
mod shards;
mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;

use coherence::{Coherence, Target};
pub use flight::FlightGuard;
use flight::{FlightTable, Joined};
pub use l1::L1Limits;
use l1::{L1, L1Entry};
pub use l2::{L2, L2Error};
pub use stats::{CacheStats, L1Stats, L2Stats};
use stats::{Counters, hit_rate};

use crate::config::FamilyPolicy;

/// Why a cache call was refused. Redis trouble is not among them.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CacheError {
    #[error("value is {0} bytes, over the per-entry limit")]
    TooLarge(u64),
    #[error("timed out waiting for a concurrent computation of this key")]
    Timeout,
    #[error("a TTL of {requested} s is over this key family's cap of {max} s")]
    TtlTooLong { requested: u64, max: u64 },
}

/// Tunables, from the CLI and the manifest's `[cache.families]`.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub l1: L1Limits,
    pub l1_ttl: Duration,
    pub l2_ttl: Duration,
    pub stale_grace: Duration,
    pub max_value_bytes: usize,
    /// Longest per-call TTL for families that set no `max_ttl_seconds`.
    pub max_ttl: Duration,
    pub families: BTreeMap<String, FamilyPolicy>,
    /// Longest a request waits for another's computation of the same key.
    pub flight_wait: Duration,
}

/// Which tier answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    L1,
    L2,
}

impl Tier {
    /// The `x-strata-cache` value of a hit on this tier, as components
    /// report it through the SDK (`Outcome::header_value`), so a host
    /// endpoint's hit reads like a component's in responses, logs and
    /// metrics.
    pub fn header_value(self) -> &'static str {
        match self {
            Tier::L1 => "hit-l1",
            Tier::L2 => "hit-l2",
        }
    }
}

/// A value found in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub value: Bytes,
    pub tier: Tier,
}

/// The result of cache-or-compute's first step.
pub enum Lookup {
    Hit(Hit),
    /// The caller must compute the value and [`Lease::fill`] it.
    Compute(Lease),
}

/// The exclusive right to compute one key. Dropping it unfilled releases
/// the waiters (see [`flight`]).
pub struct Lease {
    key: String,
    stale: Option<Bytes>,
    _guard: FlightGuard,
}

impl Lease {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The expired copy kept for stale-on-error, if any.
    pub fn stale(&self) -> Option<&Bytes> {
        self.stale.as_ref()
    }
}

/// Counts of keys removed by a clear, per tier.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cleared {
    pub l1: u64,
    pub l2: u64,
    /// Set when Redis could not be cleared (its keys will expire by TTL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2_error: Option<String>,
}

/// The L2 tier's state in one word, as the public endpoints show it
/// (`/health`, `/cache-stats`): what is down, never why.
pub fn l2_state(configured: bool, healthy: bool) -> &'static str {
    match (configured, healthy) {
        (false, _) => "not configured",
        (true, true) => "connected",
        (true, false) => "unavailable",
    }
}

/// State of the L2 tier for health checks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct L2Health {
    pub configured: bool,
    /// "standalone", "cluster" or "none".
    pub mode: &'static str,
    pub healthy: bool,
    pub status: String,
}

/// See the module documentation.
pub struct TieredCache {
    l1: L1,
    l2: Option<Arc<L2>>,
    /// Broadcasts invalidations to other instances (with an L2 only).
    coherence: Option<Arc<Coherence>>,
    settings: CacheSettings,
    flights: FlightTable,
    counters: Arc<Counters>,
}

enum Probe {
    Fresh(Hit),
    Miss { stale: Option<Bytes> },
}

impl TieredCache {
    /// Builds the cache; with an L2 it also starts listening for other
    /// instances' invalidations (so it must run inside a tokio runtime).
    pub fn new(settings: CacheSettings, l2: Option<L2>) -> Self {
        let l1 = L1::new(settings.l1);
        let l2 = l2.map(Arc::new);
        let coherence = l2
            .as_ref()
            .map(|l2| Coherence::start(instance_id(), l2.clone(), l1.clone()));
        Self {
            l1,
            l2,
            coherence,
            settings,
            flights: FlightTable::default(),
            counters: Arc::default(),
        }
    }

    /// `(l1 ttl, l2 ttl, l1 only)` for a key: the per-call TTL if given,
    /// else the family's policy, else the global defaults.
    fn policy(&self, key: &str, ttl: Option<Duration>) -> (Duration, Duration, bool) {
        let family = self.settings.families.get(strata_keys::family(key));
        let l1_only = family.is_some_and(|f| f.l1_only);
        match (ttl, family) {
            (Some(ttl), _) => (ttl, ttl, l1_only),
            (None, Some(f)) => {
                let ttl = Duration::from_secs(f.ttl_seconds);
                (ttl, ttl, l1_only)
            }
            (None, None) => (self.settings.l1_ttl, self.settings.l2_ttl, l1_only),
        }
    }

    /// The longest TTL a caller may ask for on `key`: the family's cap, else
    /// the host's (never below the family's own default).
    fn max_ttl(&self, key: &str) -> Duration {
        let family = self.settings.families.get(strata_keys::family(key));
        match family {
            Some(FamilyPolicy {
                max_ttl_seconds: Some(max),
                ..
            }) => Duration::from_secs(*max),
            Some(f) => self
                .settings
                .max_ttl
                .max(Duration::from_secs(f.ttl_seconds)),
            None => self.settings.max_ttl,
        }
    }

    fn l2_for(&self, key: &str) -> Option<&Arc<L2>> {
        let (_, _, l1_only) = self.policy(key, None);
        self.l2.as_ref().filter(|_| !l1_only)
    }

    async fn probe(&self, key: &str) -> Probe {
        let mut stale = None;
        if let Some(entry) = self.l1.get(key).await {
            if entry.is_fresh() {
                Counters::bump(&self.counters.l1_hits);
                tracing::debug!(key, "cache hit L1");
                return Probe::Fresh(Hit {
                    value: entry.value.clone(),
                    tier: Tier::L1,
                });
            }
            stale = Some(entry.value.clone());
        }
        Counters::bump(&self.counters.l1_misses);
        let Some(l2) = self.l2_for(key) else {
            return Probe::Miss { stale };
        };
        match l2.get(key).await {
            Ok(Some((value, remaining))) => {
                Counters::bump(&self.counters.l2_hits);
                Counters::bump(&self.counters.promotions);
                tracing::debug!(key, "cache hit L2, promoting to L1");
                let (l1_ttl, _, _) = self.policy(key, None);
                let ttl = remaining.map_or(l1_ttl, |r| r.min(l1_ttl));
                self.insert_l1(key, value.clone(), ttl).await;
                Probe::Fresh(Hit {
                    value,
                    tier: Tier::L2,
                })
            }
            Ok(None) => {
                Counters::bump(&self.counters.l2_misses);
                Probe::Miss { stale }
            }
            Err(e) => {
                self.note_l2_error("get", key, &e);
                Probe::Miss { stale }
            }
        }
    }

    fn note_l2_error(&self, op: &str, key: &str, error: &L2Error) {
        Counters::bump(&self.counters.l2_errors);
        match error {
            L2Error::CircuitOpen => tracing::debug!(op, key, "L2 skipped: breaker open"),
            _ => tracing::warn!(op, key, error = %error, "L2 unavailable; continuing with L1"),
        }
    }

    async fn insert_l1(&self, key: &str, value: Bytes, ttl: Duration) {
        let entry = L1Entry {
            value,
            fresh_until: Instant::now() + ttl,
            grace: self.settings.stale_grace,
        };
        self.l1.insert(key.to_string(), entry).await;
    }

    /// A fresh value, from L1 or (promoted) from L2.
    pub async fn get(&self, key: &str) -> Option<Hit> {
        match self.probe(key).await {
            Probe::Fresh(hit) => Some(hit),
            Probe::Miss { .. } => {
                tracing::debug!(key, "cache miss");
                None
            }
        }
    }

    /// Stores a value: L1 at once, L2 in the background (write-through).
    pub async fn set(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        if value.len() > self.settings.max_value_bytes {
            return Err(CacheError::TooLarge(value.len() as u64));
        }
        if let Some(ttl) = ttl {
            let max = self.max_ttl(key);
            if ttl > max {
                return Err(CacheError::TtlTooLong {
                    requested: ttl.as_secs(),
                    max: max.as_secs(),
                });
            }
        }
        let (l1_ttl, l2_ttl, _) = self.policy(key, ttl);
        self.insert_l1(key, value.clone(), l1_ttl).await;
        if let Some(l2) = self.l2_for(key).cloned() {
            let key = key.to_string();
            let counters = Arc::clone(&self.counters);
            let coherence = self.coherence.clone();
            tokio::spawn(async move {
                let digest = coherence
                    .as_ref()
                    .map(|_| crate::runtime::content_hash(&value));
                match l2.set(&key, value, l2_ttl).await {
                    Ok(()) => {
                        Counters::bump(&counters.l2_writes);
                        if let (Some(coherence), Some(digest)) = (coherence, digest) {
                            coherence
                                .broadcast(Target::Stored { key, digest }, false)
                                .await;
                        }
                    }
                    Err(e) => {
                        Counters::bump(&counters.l2_errors);
                        if !matches!(e, L2Error::CircuitOpen) {
                            tracing::warn!(key, error = %e, "L2 write failed; value kept in L1");
                        }
                    }
                }
            });
        }
        Ok(())
    }

    /// Removes a key from both tiers; returns whether L1 held it.
    pub async fn delete(&self, key: &str) -> bool {
        let held = self.l1.remove(key).await;
        if let Some(l2) = self.l2_for(key)
            && let Err(e) = l2.delete(key).await
        {
            self.note_l2_error("delete", key, &e);
        }
        if let Some(coherence) = &self.coherence {
            coherence
                .broadcast(Target::Key(key.to_string()), true)
                .await;
        }
        held
    }

    /// Removes every key matching a glob pattern from both tiers.
    pub async fn clear_pattern(&self, pattern: &str) -> Cleared {
        let l1 = self
            .l1
            .remove_matching(|key| strata_keys::glob_match(pattern, key))
            .await;
        let mut cleared = Cleared {
            l1,
            ..Cleared::default()
        };
        if let Some(l2) = &self.l2 {
            match l2.clear_pattern(pattern).await {
                Ok(n) => cleared.l2 = n,
                Err(e) => {
                    if let L2Error::IncompleteClear { removed, .. } = &e {
                        cleared.l2 = *removed;
                    }
                    self.note_l2_error("clear", pattern, &e);
                    cleared.l2_error = Some(e.to_string());
                }
            }
        }
        if let Some(coherence) = &self.coherence {
            coherence
                .broadcast(Target::Pattern(pattern.to_string()), true)
                .await;
        }
        tracing::info!(pattern, l1 = cleared.l1, l2 = cleared.l2, "cache cleared");
        cleared
    }

    /// Cache-or-compute, step one: a fresh hit, or the lease to compute.
    ///
    /// Concurrent callers for one key wait for the leaseholder instead of
    /// computing too; when it fills (or abandons) the lease they look again.
    pub async fn get_or_lease(&self, key: &str) -> Result<Lookup, CacheError> {
        let deadline = Instant::now() + self.settings.flight_wait;
        loop {
            let stale = match self.probe(key).await {
                Probe::Fresh(hit) => return Ok(Lookup::Hit(hit)),
                Probe::Miss { stale } => stale,
            };
            match self.flights.join(key) {
                Joined::Leader(guard) => {
                    // A previous leader may have filled the key between our
                    // probe and our join; its L1 write happens before it
                    // releases the flight, so one more L1 look settles it.
                    if let Some(entry) = self.l1.get(key).await
                        && entry.is_fresh()
                    {
                        Counters::bump(&self.counters.l1_hits);
                        return Ok(Lookup::Hit(Hit {
                            value: entry.value.clone(),
                            tier: Tier::L1,
                        }));
                    }
                    Counters::bump(&self.counters.computes);
                    tracing::debug!(key, "cache miss, caller computes");
                    return Ok(Lookup::Compute(Lease {
                        key: key.to_string(),
                        stale,
                        _guard: guard,
                    }));
                }
                Joined::Follower(waiter) => {
                    Counters::bump(&self.counters.coalesced_waits);
                    if tokio::time::timeout_at(deadline.into(), waiter.finished())
                        .await
                        .is_err()
                    {
                        return Err(CacheError::Timeout);
                    }
                }
            }
        }
    }

    /// Completes a lease: stores the value and wakes the waiters.
    pub async fn fill(
        &self,
        lease: Lease,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let outcome = self.set(&lease.key, value, ttl).await;
        drop(lease);
        outcome
    }

    /// Drops this instance's L1 copy of `key`, leaving L2 and other
    /// instances alone (a local eviction, as memory pressure would do).
    pub async fn evict_l1(&self, key: &str) -> bool {
        self.l1.remove(key).await
    }

    /// Entries of one key family in this instance's L1.
    pub fn family_entries(&self, family: &str) -> u64 {
        self.l1
            .count_matching(|key| strata_keys::family(key) == family)
    }

    /// This instance's L1 value for `key`, fresh or not, without touching
    /// statistics (for reporting, not serving).
    pub async fn peek_l1(&self, key: &str) -> Option<Bytes> {
        self.l1.get(key).await.map(|entry| entry.value.clone())
    }

    /// Records that a stale value was served because recomputation failed.
    pub fn note_stale_serve(&self, key: &str) {
        Counters::bump(&self.counters.stale_serves);
        tracing::debug!(key, "serving stale value after failed compute");
    }

    /// The L2 tier's state, with a live round trip when it is configured.
    pub async fn l2_health(&self) -> L2Health {
        match &self.l2 {
            None => L2Health {
                configured: false,
                mode: "none",
                healthy: false,
                status: "not configured (L1 only)".into(),
            },
            Some(l2) => match l2.ping().await {
                Ok(()) => L2Health {
                    configured: true,
                    mode: l2.backplane().topology().mode(),
                    healthy: true,
                    status: "connected".into(),
                },
                Err(e) => L2Health {
                    configured: true,
                    mode: l2.backplane().topology().mode(),
                    healthy: false,
                    status: e.to_string(),
                },
            },
        }
    }

    /// Figures for every tier.
    pub async fn stats(&self) -> CacheStats {
        let (entries, weighted) = self.l1.usage().await;
        let limits = self.l1.limits();
        let (l1_hits, l1_misses) = self.counters.snapshot_l1();
        let (l2_hits, l2_misses, l2_errors, l2_writes) = self.counters.snapshot_l2();
        let (promotions, computes, stale_serves, coalesced_waits) = self.counters.snapshot_flow();
        let (l2_healthy, breaker, latency) = match &self.l2 {
            Some(l2) => {
                let state = l2.breaker_state();
                (
                    state == crate::breaker::BreakerState::Closed,
                    state.as_str(),
                    l2.last_latency(),
                )
            }
            None => (false, "none", Duration::ZERO),
        };
        CacheStats {
            l1: L1Stats {
                entries,
                weighted_size_bytes: weighted,
                max_entries: limits.max_entries,
                max_bytes: limits.max_bytes,
                hits: l1_hits,
                misses: l1_misses,
                hit_rate_percent: hit_rate(l1_hits, l1_misses),
                default_ttl_seconds: self.settings.l1_ttl.as_secs(),
            },
            l2: L2Stats {
                configured: self.l2.is_some(),
                mode: self
                    .l2
                    .as_ref()
                    .map_or("none", |l2| l2.backplane().topology().mode()),
                healthy: l2_healthy,
                breaker,
                hits: l2_hits,
                misses: l2_misses,
                hit_rate_percent: hit_rate(l2_hits, l2_misses),
                errors: l2_errors,
                writes: l2_writes,
                last_latency_ms: latency.as_secs_f64() * 1000.0,
                default_ttl_seconds: self.settings.l2_ttl.as_secs(),
            },
            promotions,
            computes,
            stale_serves,
            coalesced_waits,
            in_flight: self.flights.in_flight(),
        }
    }
}

/// A name unique to this process, for invalidation broadcasts.
fn instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn settings() -> CacheSettings {
        let mut families = BTreeMap::new();
        families.insert(
            "market".to_string(),
            FamilyPolicy {
                ttl_seconds: 60,
                l1_only: false,
                max_ttl_seconds: Some(600),
            },
        );
        CacheSettings {
            l1: L1Limits {
                max_entries: 100,
                max_bytes: 1 << 20,
            },
            l1_ttl: Duration::from_secs(300),
            l2_ttl: Duration::from_secs(3600),
            stale_grace: Duration::from_secs(600),
            max_value_bytes: 1024,
            max_ttl: Duration::from_secs(3600),
            families,
            flight_wait: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn a_ttl_over_the_family_cap_is_refused() {
        let cache = TieredCache::new(settings(), None);
        let refused = cache
            .set(
                "market:btc",
                Bytes::from_static(b"1"),
                Some(Duration::from_secs(601)),
            )
            .await;
        assert_eq!(
            refused,
            Err(CacheError::TtlTooLong {
                requested: 601,
                max: 600
            })
        );
        assert!(cache.get("market:btc").await.is_none(), "nothing stored");
        let unlisted = cache
            .set(
                "other:x",
                Bytes::from_static(b"1"),
                Some(Duration::from_secs(u64::from(u32::MAX))),
            )
            .await;
        assert!(matches!(
            unlisted,
            Err(CacheError::TtlTooLong { max: 3600, .. })
        ));
        let within = cache
            .set(
                "market:btc",
                Bytes::from_static(b"1"),
                Some(Duration::from_secs(600)),
            )
            .await;
        assert_eq!(within, Ok(()));
    }

    #[tokio::test]
    async fn a_set_value_is_an_l1_hit() {
        let cache = TieredCache::new(settings(), None);
        cache
            .set("market:btc", Bytes::from_static(b"1"), None)
            .await
            .expect("set");
        let hit = cache.get("market:btc").await.expect("hit");
        assert_eq!(hit.tier, Tier::L1);
        assert_eq!(hit.value, Bytes::from_static(b"1"));
    }

    #[tokio::test]
    async fn family_ttl_applies_unless_the_call_overrides_it() {
        let cache = TieredCache::new(settings(), None);
        assert_eq!(cache.policy("market:btc", None).0, Duration::from_secs(60));
        assert_eq!(cache.policy("other:x", None).0, Duration::from_secs(300));
        assert_eq!(
            cache.policy("market:btc", Some(Duration::from_secs(5))).0,
            Duration::from_secs(5)
        );
    }

    #[tokio::test]
    async fn oversized_values_are_refused() {
        let cache = TieredCache::new(settings(), None);
        let big = Bytes::from(vec![0u8; 2048]);
        assert_eq!(
            cache.set("market:btc", big, None).await,
            Err(CacheError::TooLarge(2048))
        );
    }

    #[tokio::test]
    async fn an_expired_value_is_offered_as_stale_to_the_next_computer() {
        let cache = TieredCache::new(settings(), None);
        cache
            .set(
                "market:btc",
                Bytes::from_static(b"old"),
                Some(Duration::ZERO),
            )
            .await
            .expect("set");
        assert!(
            cache.get("market:btc").await.is_none(),
            "expired is not fresh"
        );
        let Lookup::Compute(lease) = cache.get_or_lease("market:btc").await.expect("lookup") else {
            panic!("expired value must be recomputed");
        };
        assert_eq!(lease.stale(), Some(&Bytes::from_static(b"old")));
    }

    #[tokio::test]
    async fn concurrent_misses_for_one_key_compute_once() {
        let cache = Arc::new(TieredCache::new(settings(), None));
        let computes = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let cache = cache.clone();
            let computes = computes.clone();
            tasks.push(tokio::spawn(async move {
                match cache.get_or_lease("market:eth").await.expect("lookup") {
                    Lookup::Hit(hit) => hit.value,
                    Lookup::Compute(lease) => {
                        computes.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let value = Bytes::from_static(b"computed");
                        cache.fill(lease, value.clone(), None).await.expect("fill");
                        value
                    }
                }
            }));
        }
        for task in tasks {
            assert_eq!(task.await.expect("task"), Bytes::from_static(b"computed"));
        }
        assert_eq!(computes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_abandoned_lease_passes_to_a_waiter() {
        let cache = Arc::new(TieredCache::new(settings(), None));
        let Lookup::Compute(first) = cache.get_or_lease("market:sol").await.expect("lookup") else {
            panic!("cold key must lease");
        };
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_or_lease("market:sol").await })
        };
        tokio::task::yield_now().await;
        drop(first);
        let outcome = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("waiter did not hang")
            .expect("task")
            .expect("lookup");
        assert!(
            matches!(outcome, Lookup::Compute(_)),
            "waiter takes over the lease"
        );
    }

    #[tokio::test]
    async fn clear_pattern_removes_only_matching_l1_keys() {
        let cache = TieredCache::new(settings(), None);
        for key in ["market:btc", "market:eth", "report:1"] {
            cache
                .set(key, Bytes::from_static(b"v"), None)
                .await
                .expect("set");
        }
        let cleared = cache.clear_pattern("market:*").await;
        assert_eq!(cleared.l1, 2);
        assert_eq!(cleared.l2, 0);
        assert!(cache.get("report:1").await.is_some());
    }
}
