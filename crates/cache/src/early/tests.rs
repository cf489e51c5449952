//! Checks the promises early refresh makes: a hot key's readers never see
//! a miss and never wait, one caller refreshes it about once per TTL, a
//! refresh that fails or is abandoned leaves the value served, and nothing
//! changes for families that did not opt in.

use super::*;
use crate::testing::settings;
use crate::{CacheSettings, Lookup};
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};

/// `hot` refreshes early with the default beta; `market` (from the shared
/// settings) does not.
fn with_hot_family(beta: Option<f64>) -> CacheSettings {
    let mut settings = settings();
    settings.families.insert(
        "hot".to_string(),
        FamilyPolicy {
            ttl_seconds: 60,
            l1_only: false,
            max_ttl_seconds: None,
            negative_ttl_seconds: None,
            early_refresh: true,
            early_refresh_beta: beta,
        },
    );
    settings
}

/// Puts `value` into L1 as if it had taken 1000 s to compute, fresh for
/// another 60 s: with beta 1 each look draws a refresh with probability
/// e^-0.06 (about 0.94), so a few looks are sure to draw one.
async fn seed_due(cache: &TieredCache, key: &str, value: &'static [u8]) {
    let entry = L1Entry {
        value: crate::stored::Stored::Value(Bytes::from_static(value)).encode(),
        fresh_until: Instant::now() + Duration::from_secs(60),
        grace: Duration::from_secs(60),
        delta: Some(Duration::from_secs(1000)),
        generation: 0,
    };
    cache.l1.insert(key.to_string(), entry).await;
}

/// Looks `key` up until a look draws an early refresh (bounded: each draws
/// one with probability ~0.94 after `seed_due`).
async fn early_lease(cache: &TieredCache, key: &str) -> Lease {
    for _ in 0..200 {
        match cache.get_or_lease(key).await.expect("lookup") {
            Lookup::Compute(lease) => return lease,
            Lookup::Hit(_) => continue,
            Lookup::Negative(_) => panic!("nothing was remembered"),
        }
    }
    panic!("200 looks at a due value drew no refresh");
}

#[test]
fn with_no_compute_time_nothing_is_refreshed_before_expiry() {
    let remaining = Duration::from_millis(1);
    assert!(!due(remaining, Duration::ZERO, 1.0, 1e-300));
    assert!(!due(remaining, Duration::ZERO, 10.0, f64::MIN_POSITIVE));
}

#[test]
fn at_expiry_every_draw_refreshes() {
    for draw in [1.0, 0.5, 1e-9] {
        assert!(due(Duration::ZERO, Duration::from_millis(5), 1.0, draw));
        assert!(due(Duration::ZERO, Duration::ZERO, 1.0, draw));
    }
}

#[test]
fn a_draw_of_one_waits_for_expiry() {
    assert!(!due(
        Duration::from_nanos(1),
        Duration::from_secs(1),
        10.0,
        1.0
    ));
}

#[test]
fn beta_scales_how_far_ahead_a_draw_reaches() {
    // -ln(1/e) = 1: this draw reaches exactly delta * beta ahead.
    let draw = (-1.0f64).exp();
    let delta = Duration::from_millis(100);
    let remaining = Duration::from_millis(150);
    assert!(!due(remaining, delta, 1.0, draw), "100 ms ahead < 150 ms");
    assert!(due(remaining, delta, 2.0, draw), "200 ms ahead >= 150 ms");
    assert!(!due(remaining, delta, 1.4, draw), "140 ms ahead < 150 ms");
}

#[test]
fn smaller_draws_reach_further_ahead() {
    let delta = Duration::from_millis(10);
    let remaining = Duration::from_millis(50);
    // -ln(0.01) ~ 4.6: 46 ms ahead; -ln(0.001) ~ 6.9: 69 ms ahead.
    assert!(!due(remaining, delta, 1.0, 0.01));
    assert!(due(remaining, delta, 1.0, 0.001));
}

#[test]
fn draws_are_never_zero_nor_over_one() {
    for _ in 0..100_000 {
        let d = draw();
        assert!(d > 0.0 && d <= 1.0, "{d}");
        assert!(d.ln().is_finite());
    }
}

#[test]
fn the_family_opt_in_decides_the_beta() {
    let policy = |early_refresh, early_refresh_beta| FamilyPolicy {
        ttl_seconds: 60,
        l1_only: false,
        max_ttl_seconds: None,
        negative_ttl_seconds: None,
        early_refresh,
        early_refresh_beta,
    };
    assert_eq!(policy(false, None).early_refresh(), None, "off by default");
    assert_eq!(policy(false, Some(2.0)).early_refresh(), None);
    assert_eq!(policy(true, None).early_refresh(), Some(1.0));
    assert_eq!(policy(true, Some(2.5)).early_refresh(), Some(2.5));
    assert_eq!(policy(true, Some(1e9)).early_refresh(), Some(10.0), "cut");
    for nonsense in [0.0, -1.0, f64::NAN] {
        assert_eq!(policy(true, Some(nonsense)).early_refresh(), None);
    }
}

#[tokio::test]
async fn a_due_value_is_refreshed_under_a_lease_that_offers_it() {
    let cache = TieredCache::new(with_hot_family(None), None);
    seed_due(&cache, "hot:btc", b"current").await;
    let lease = early_lease(&cache, "hot:btc").await;
    assert!(lease.early());
    assert_eq!(lease.stale(), Some(&Bytes::from_static(b"current")));
    let stats = cache.stats().await;
    assert_eq!(stats.early_refreshes, 1);
    assert_eq!(stats.computes, 0, "a refresh is not a miss");
    assert_eq!(stats.l1.misses, 0, "the value was found fresh");
    assert_eq!(stats.in_flight, 1);
}

#[tokio::test]
async fn callers_during_an_early_refresh_get_the_value_without_waiting() {
    let cache = Arc::new(TieredCache::new(with_hot_family(None), None));
    seed_due(&cache, "hot:btc", b"current").await;
    let _refreshing = early_lease(&cache, "hot:btc").await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cache = cache.clone();
        tasks.push(tokio::spawn(async move {
            cache.get_or_lease("hot:btc").await.expect("lookup")
        }));
    }
    for task in tasks {
        match task.await.expect("task") {
            Lookup::Hit(hit) => assert_eq!(hit.value, Bytes::from_static(b"current")),
            _ => panic!("a caller during a refresh must get the current value"),
        }
    }
    let stats = cache.stats().await;
    assert_eq!(stats.coalesced_waits, 0, "nobody waited on the refresh");
    assert_eq!(stats.early_refreshes, 1, "one refresh at a time");
}

#[tokio::test]
async fn an_abandoned_early_refresh_leaves_the_value_served() {
    let cache = TieredCache::new(with_hot_family(None), None);
    seed_due(&cache, "hot:btc", b"current").await;
    drop(early_lease(&cache, "hot:btc").await);
    let hit = cache.get("hot:btc").await.expect("still served");
    assert_eq!(hit.value, Bytes::from_static(b"current"));
    assert_eq!(cache.stats().await.in_flight, 0, "the flight is released");
    // The next cache-or-compute caller is answered, or refreshes again
    // with the value in hand: never a miss.
    for _ in 0..20 {
        match cache.get_or_lease("hot:btc").await.expect("lookup") {
            Lookup::Hit(hit) => assert_eq!(hit.value, Bytes::from_static(b"current")),
            Lookup::Compute(lease) => {
                assert!(lease.early(), "a miss after an abandoned refresh");
                assert_eq!(lease.stale(), Some(&Bytes::from_static(b"current")));
            }
            Lookup::Negative(_) => panic!("nothing was remembered"),
        }
    }
    assert_eq!(cache.stats().await.computes, 0);
}

#[tokio::test]
async fn a_filled_early_refresh_replaces_the_value_and_keeps_its_compute_time() {
    let cache = TieredCache::new(with_hot_family(None), None);
    seed_due(&cache, "hot:btc", b"current").await;
    let lease = early_lease(&cache, "hot:btc").await;
    cache
        .fill(lease, Bytes::from_static(b"refreshed"), None)
        .await
        .expect("fill");
    let hit = cache.get("hot:btc").await.expect("hit");
    assert_eq!(hit.value, Bytes::from_static(b"refreshed"));
    let entry = cache.l1.get("hot:btc").await.expect("in L1");
    assert!(entry.delta.is_some_and(|d| d < Duration::from_secs(1000)));
}

#[tokio::test]
async fn plain_reads_never_refresh() {
    let cache = TieredCache::new(with_hot_family(None), None);
    seed_due(&cache, "hot:btc", b"current").await;
    for _ in 0..100 {
        assert!(cache.get("hot:btc").await.is_some());
    }
    let stats = cache.stats().await;
    assert_eq!((stats.early_refreshes, stats.in_flight), (0, 0));
}

#[tokio::test]
async fn families_without_the_opt_in_are_never_refreshed_early() {
    let cache = TieredCache::new(with_hot_family(None), None);
    seed_due(&cache, "market:btc", b"current").await;
    for _ in 0..100 {
        assert!(matches!(
            cache.get_or_lease("market:btc").await.expect("lookup"),
            Lookup::Hit(_)
        ));
    }
    assert_eq!(cache.stats().await.early_refreshes, 0);
}

#[tokio::test]
async fn a_deploy_that_turns_early_refresh_off_stops_it_at_once() {
    let cache = TieredCache::new(with_hot_family(None), None);
    seed_due(&cache, "hot:btc", b"current").await;
    cache.set_families(settings().families);
    for _ in 0..100 {
        assert!(matches!(
            cache.get_or_lease("hot:btc").await.expect("lookup"),
            Lookup::Hit(_)
        ));
    }
    assert_eq!(cache.stats().await.early_refreshes, 0);
}

#[tokio::test]
async fn only_fills_of_opted_in_families_keep_a_compute_time() {
    let cache = TieredCache::new(with_hot_family(None), None);
    for key in ["hot:filled", "market:filled"] {
        let Lookup::Compute(lease) = cache.get_or_lease(key).await.expect("lookup") else {
            panic!("cold key must lease");
        };
        cache
            .fill(lease, Bytes::from_static(b"v"), None)
            .await
            .expect("fill");
    }
    cache
        .set("hot:set", Bytes::from_static(b"v"), None)
        .await
        .expect("set");
    let delta = |key: &'static str| {
        let cache = &cache;
        async move { cache.l1.get(key).await.expect("in L1").delta }
    };
    assert!(delta("hot:filled").await.is_some());
    assert_eq!(delta("market:filled").await, None, "family did not opt in");
    assert_eq!(delta("hot:set").await, None, "not computed here");
}

#[tokio::test]
async fn without_the_opt_in_a_key_still_misses_at_expiry() {
    let cache = TieredCache::new(with_hot_family(None), None);
    let Lookup::Compute(lease) = cache.get_or_lease("market:eth").await.expect("lookup") else {
        panic!("cold key must lease");
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    cache
        .fill(
            lease,
            Bytes::from_static(b"v1"),
            Some(Duration::from_millis(200)),
        )
        .await
        .expect("fill");
    let lease = loop {
        match cache.get_or_lease("market:eth").await.expect("lookup") {
            Lookup::Hit(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            Lookup::Compute(lease) => break lease,
            Lookup::Negative(_) => panic!("nothing was remembered"),
        }
    };
    assert!(!lease.early(), "leased on a miss");
    assert_eq!(
        lease.stale(),
        Some(&Bytes::from_static(b"v1")),
        "the expired copy"
    );
    let stats = cache.stats().await;
    assert_eq!((stats.computes, stats.early_refreshes), (2, 0));
}

/// The acceptance: a hot key under steady load, computed in 50 ms,
/// fresh for 1 s, read by 8 callers for 6 s (6 expiries) with the default
/// beta, is refreshed about once per TTL by one caller at a time, and no
/// caller ever misses it or waits. The refresh lands ~0.3 s before expiry
/// (50 ms x ln(reads per 50 ms)), which leaves a loaded machine ample
/// slack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_key_under_steady_load_is_never_missed_across_expiries() {
    const TTL: Duration = Duration::from_secs(1);
    const RUN: Duration = Duration::from_secs(6);
    let cache = Arc::new(TieredCache::new(with_hot_family(None), None));
    let upstream = Arc::new(AtomicU64::new(0));
    let compute = {
        let upstream = upstream.clone();
        move || {
            let upstream = upstream.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let n = upstream.fetch_add(1, Ordering::SeqCst) + 1;
                Bytes::from(n.to_string())
            }
        }
    };
    let Lookup::Compute(first) = cache.get_or_lease("hot:btc").await.expect("lookup") else {
        panic!("cold key must lease");
    };
    let value = compute().await;
    cache
        .fill(first, value, Some(TTL))
        .await
        .expect("first fill");

    let started = Instant::now();
    let misses = Arc::new(AtomicU64::new(0));
    let refreshes = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (cache, compute) = (cache.clone(), compute.clone());
        let (misses, refreshes) = (misses.clone(), refreshes.clone());
        readers.push(tokio::spawn(async move {
            while started.elapsed() < RUN {
                match cache.get_or_lease("hot:btc").await.expect("lookup") {
                    Lookup::Hit(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                    Lookup::Compute(lease) => {
                        let counter = if lease.early() { &refreshes } else { &misses };
                        counter.fetch_add(1, Ordering::SeqCst);
                        let value = compute().await;
                        cache.fill(lease, value, Some(TTL)).await.expect("fill");
                    }
                    Lookup::Negative(_) => panic!("nothing was remembered"),
                }
            }
        }));
    }
    for reader in readers {
        reader.await.expect("reader");
    }
    let ttls = started.elapsed().as_secs_f64() / TTL.as_secs_f64();
    let stats = cache.stats().await;
    let refreshes = refreshes.load(Ordering::SeqCst);
    assert_eq!(
        misses.load(Ordering::SeqCst),
        0,
        "a reader missed the hot key"
    );
    assert_eq!(stats.computes, 1, "only the first fill was a miss");
    assert_eq!(stats.coalesced_waits, 0, "a reader waited on a refresh");
    assert_eq!(stats.early_refreshes, refreshes);
    assert_eq!(upstream.load(Ordering::SeqCst), refreshes + 1);
    assert!(refreshes >= 5, "{refreshes} refreshes over {ttls:.1} TTLs");
    assert!(
        (refreshes as f64) <= 2.0 * ttls + 1.0,
        "{refreshes} refreshes over {ttls:.1} TTLs"
    );
}
