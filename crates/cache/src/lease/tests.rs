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
