//! Checks the promises callers build on: one computation per key however
//! many miss it, an abandoned lease never strands its waiters, and an
//! expired value is offered as the stale fallback.

use super::*;
use crate::testing::settings;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

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
                Lookup::Negative(_) => panic!("nothing was remembered"),
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

/// Settings where `market` remembers failures for 5 s and `gone` for none.
fn with_forgetful_family() -> crate::CacheSettings {
    let mut settings = settings();
    settings.families.insert(
        "gone".to_string(),
        crate::FamilyPolicy {
            ttl_seconds: 60,
            l1_only: false,
            max_ttl_seconds: None,
            negative_ttl_seconds: Some(0),
            early_refresh: false,
            early_refresh_beta: None,
        },
    );
    settings
}

async fn remember(cache: &TieredCache, key: &str, what: &'static [u8]) {
    let Lookup::Compute(lease) = cache.resolve(key).await.expect("lookup") else {
        panic!("{key} must be computed first");
    };
    cache
        .fill_negative(lease, Bytes::from_static(what))
        .await
        .expect("fill negative");
}

#[tokio::test]
async fn a_remembered_failure_answers_resolve_with_what_was_kept() {
    let cache = TieredCache::new(settings(), None);
    remember(&cache, "market:nope", b"404 unknown").await;
    match cache.resolve("market:nope").await.expect("lookup") {
        Lookup::Negative(hit) => {
            assert_eq!(hit.value, Bytes::from_static(b"404 unknown"));
            assert_eq!(hit.tier, Tier::L1);
        }
        _ => panic!("a remembered failure must be reported as one"),
    }
    let stats = cache.stats().await;
    assert_eq!((stats.negative_fills, stats.negative_hits), (1, 1));
}

#[tokio::test]
async fn a_remembered_failure_is_no_value_for_get_or_lease() {
    let cache = TieredCache::new(settings(), None);
    remember(&cache, "market:nope", b"404").await;
    assert!(cache.get("market:nope").await.is_none());
    assert!(cache.peek_l1("market:nope").await.is_none());
    let Lookup::Compute(lease) = cache.get_or_lease("market:nope").await.expect("lookup") else {
        panic!("callers that do not ask for failures compute");
    };
    assert_eq!(lease.stale(), None, "a failure is never a stale value");
}

#[tokio::test]
async fn a_value_replaces_a_remembered_failure() {
    let cache = TieredCache::new(settings(), None);
    remember(&cache, "market:new", b"404").await;
    cache
        .set("market:new", Bytes::from_static(b"listed"), None)
        .await
        .expect("set");
    assert!(matches!(
        cache.resolve("market:new").await.expect("lookup"),
        Lookup::Hit(hit) if hit.value == Bytes::from_static(b"listed")
    ));
}

#[tokio::test]
async fn a_family_with_no_negative_ttl_remembers_nothing() {
    let cache = TieredCache::new(with_forgetful_family(), None);
    remember(&cache, "gone:x", b"404").await;
    assert!(matches!(
        cache.resolve("gone:x").await.expect("lookup"),
        Lookup::Compute(_)
    ));
    assert_eq!(cache.stats().await.negative_fills, 0);
}

#[tokio::test]
async fn an_oversized_failure_is_refused_and_frees_the_lease() {
    let cache = TieredCache::new(settings(), None);
    let Lookup::Compute(lease) = cache.resolve("market:big").await.expect("lookup") else {
        panic!("must compute");
    };
    let refused = cache
        .fill_negative(lease, Bytes::from(vec![b'x'; 4096]))
        .await;
    assert_eq!(refused, Err(CacheError::TooLarge(4096)));
    assert!(matches!(
        cache.resolve("market:big").await.expect("lookup"),
        Lookup::Compute(_)
    ));
}

#[tokio::test]
async fn waiters_on_a_failing_computation_get_the_remembered_failure() {
    let cache = Arc::new(TieredCache::new(settings(), None));
    let computes = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cache = cache.clone();
        let computes = computes.clone();
        tasks.push(tokio::spawn(async move {
            match cache.resolve("market:ghost").await.expect("lookup") {
                Lookup::Negative(hit) => hit.value,
                Lookup::Hit(_) => panic!("no value was ever stored"),
                Lookup::Compute(lease) => {
                    computes.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let what = Bytes::from_static(b"unknown");
                    cache
                        .fill_negative(lease, what.clone())
                        .await
                        .expect("fill");
                    what
                }
            }
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), Bytes::from_static(b"unknown"));
    }
    assert_eq!(computes.load(Ordering::SeqCst), 1, "one upstream question");
}

#[tokio::test]
async fn remembered_failures_are_counted_per_configured_family_and_other() {
    let cache = TieredCache::new(settings(), None);
    for key in ["market:nope", "made-up-family:x"] {
        remember(&cache, key, b"404").await;
        assert!(matches!(
            cache.resolve(key).await.expect("lookup"),
            Lookup::Negative(_)
        ));
    }
    let by_family = cache.stats().await.negative_hits_by_family;
    assert_eq!(by_family.get("market"), Some(&1));
    assert_eq!(by_family.get("other"), Some(&1));
    assert_eq!(by_family.len(), 2, "no series for an unconfigured family");
}
