//! Checks what callers of a batch rely on: answers in their order, a lease
//! only for what no tier holds, one computation per key however batches
//! and single lookups overlap, and refusals that take nothing.

use super::*;
use crate::L2;
use crate::testing::settings;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use strata_backplane::{Backplane, Namespace, Timeouts, Topology};

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

fn value(lookup: &Lookup) -> Option<&[u8]> {
    match lookup {
        Lookup::Hit(hit) => Some(&hit.value),
        _ => None,
    }
}

#[tokio::test]
async fn a_batch_answers_hits_and_leases_in_the_order_asked() {
    let cache = TieredCache::new(settings(), None);
    cache
        .set("market:btc", Bytes::from_static(b"1"), None)
        .await
        .expect("set");
    let answers = cache
        .get_many_or_lease(&keys(&["market:eth", "market:btc", "market:sol"]))
        .await
        .expect("batch");
    assert_eq!(answers.len(), 3);
    assert!(matches!(&answers[0], Lookup::Compute(lease) if lease.key() == "market:eth"));
    assert_eq!(value(&answers[1]), Some(&b"1"[..]));
    assert!(matches!(&answers[2], Lookup::Compute(lease) if lease.key() == "market:sol"));
}

#[tokio::test]
async fn filled_leases_are_hits_for_the_next_batch() {
    let cache = TieredCache::new(settings(), None);
    let fills = cache
        .get_many_or_lease(&keys(&["market:a", "market:b"]))
        .await
        .expect("batch")
        .into_iter()
        .map(|lookup| match lookup {
            Lookup::Compute(lease) => {
                let value = Bytes::from(lease.key().to_uppercase());
                (lease, value)
            }
            _ => panic!("an empty cache has nothing to hit"),
        })
        .collect();
    cache.fill_many(fills, None).await.expect("fill");
    let answers = cache
        .get_many_or_lease(&keys(&["market:a", "market:b"]))
        .await
        .expect("batch");
    assert_eq!(value(&answers[0]), Some(&b"MARKET:A"[..]));
    assert_eq!(value(&answers[1]), Some(&b"MARKET:B"[..]));
}

#[tokio::test]
async fn overlapping_batches_compute_each_key_once() {
    let cache = Arc::new(TieredCache::new(settings(), None));
    let computed: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let all: Vec<String> = (0..20).map(|n| format!("market:k{n:02}")).collect();
    let mut tasks = Vec::new();
    // Nine batches over sliding, overlapping windows, in both directions,
    // plus single lookups of the same keys.
    for start in 0..=8 {
        let mut window: Vec<String> = all[start..start + 12].to_vec();
        if start % 2 == 1 {
            window.reverse();
        }
        let (cache, computed) = (cache.clone(), computed.clone());
        tasks.push(tokio::spawn(async move {
            let answers = cache.get_many_or_lease(&window).await.expect("batch");
            let mut fills = Vec::new();
            for answer in answers {
                if let Lookup::Compute(lease) = answer {
                    *computed
                        .lock()
                        .expect("counts")
                        .entry(lease.key().to_string())
                        .or_default() += 1;
                    fills.push((lease, Bytes::from_static(b"v")));
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            cache.fill_many(fills, None).await.expect("fill");
        }));
    }
    let singles = Arc::new(AtomicU32::new(0));
    for key in all.iter().step_by(3) {
        let (cache, computed, singles, key) = (
            cache.clone(),
            computed.clone(),
            singles.clone(),
            key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            if let Lookup::Compute(lease) = cache.get_or_lease(&key).await.expect("lookup") {
                singles.fetch_add(1, Ordering::Relaxed);
                *computed.lock().expect("counts").entry(key).or_default() += 1;
                cache
                    .fill(lease, Bytes::from_static(b"v"), None)
                    .await
                    .expect("fill");
            }
        }));
    }
    for task in tasks {
        task.await.expect("no task panicked or timed out");
    }
    let computed = computed.lock().expect("counts");
    assert_eq!(
        computed.len(),
        all.len(),
        "every key computed: {computed:?}"
    );
    assert!(
        computed.values().all(|&n| n == 1),
        "one computation per key: {computed:?}"
    );
}

#[tokio::test]
async fn a_batch_over_the_limit_is_refused_before_any_lease() {
    let cache = TieredCache::new(settings(), None);
    let many: Vec<String> = (0..=MAX_BATCH_KEYS)
        .map(|n| format!("market:{n}"))
        .collect();
    assert_eq!(
        cache.get_many_or_lease(&many).await.err(),
        Some(CacheError::TooManyKeys {
            given: MAX_BATCH_KEYS + 1,
            max: MAX_BATCH_KEYS
        })
    );
    assert!(matches!(
        cache.get_or_lease("market:0").await,
        Ok(Lookup::Compute(_))
    ));
}

#[tokio::test]
async fn a_key_named_twice_is_refused_instead_of_waiting_on_itself() {
    let cache = TieredCache::new(settings(), None);
    let refused = cache
        .get_many_or_lease(&keys(&["market:a", "market:b", "market:a"]))
        .await;
    assert_eq!(
        refused.err(),
        Some(CacheError::DuplicateKey("market:a".into()))
    );
    assert!(matches!(
        cache.get_or_lease("market:a").await,
        Ok(Lookup::Compute(_))
    ));
}

#[tokio::test]
async fn a_refused_fill_stores_nothing_and_releases_every_lease() {
    let cache = TieredCache::new(settings(), None);
    let fills: Vec<(Lease, Bytes)> = cache
        .get_many_or_lease(&keys(&["market:a", "market:b"]))
        .await
        .expect("batch")
        .into_iter()
        .zip([Bytes::from_static(b"small"), Bytes::from(vec![0u8; 4096])])
        .map(|(lookup, value)| match lookup {
            Lookup::Compute(lease) => (lease, value),
            _ => panic!("an empty cache has nothing to hit"),
        })
        .collect();
    assert_eq!(
        cache.fill_many(fills, None).await,
        Err(CacheError::TooLarge(4096))
    );
    assert!(cache.get("market:a").await.is_none(), "nothing stored");
    for key in ["market:a", "market:b"] {
        assert!(
            matches!(cache.get_or_lease(key).await, Ok(Lookup::Compute(_))),
            "{key}'s lease was released"
        );
    }
}

#[tokio::test]
async fn a_timed_out_wait_releases_the_leases_already_taken() {
    let mut short = settings();
    short.flight_wait = Duration::from_millis(50);
    let cache = TieredCache::new(short, None);
    let Lookup::Compute(_held) = cache.get_or_lease("market:z").await.expect("lookup") else {
        panic!("an empty cache has nothing to hit");
    };
    assert_eq!(
        cache
            .get_many_or_lease(&keys(&["market:a", "market:z"]))
            .await
            .err(),
        Some(CacheError::Timeout)
    );
    assert!(matches!(
        cache.get_or_lease("market:a").await,
        Ok(Lookup::Compute(_))
    ));
}

/// A cache on the machine's Redis, in a namespace of its own.
fn on_redis(namespace: &str) -> TieredCache {
    on_redis_with(namespace, settings())
}

fn on_redis_with(namespace: &str, settings: crate::CacheSettings) -> TieredCache {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_secs(2),
    };
    let backplane = Backplane::new(
        Topology::Standalone(url),
        timeouts,
        Namespace::new(namespace).expect("namespace"),
    )
    .expect("redis url");
    TieredCache::new(settings, Some(L2::new(backplane, Duration::from_secs(2))))
}

#[tokio::test]
async fn keys_another_instance_filled_are_l2_hits_promoted_into_l1() {
    let namespace = format!("batch-{}", std::process::id());
    let writer = on_redis(&namespace);
    let reader = on_redis(&namespace);
    let wanted = keys(&["market:x", "market:y", "market:none"]);
    let fills = writer
        .get_many_or_lease(&wanted[..2])
        .await
        .expect("batch")
        .into_iter()
        .map(|lookup| match lookup {
            Lookup::Compute(lease) => (lease, Bytes::from_static(b"v")),
            _ => panic!("a fresh namespace has nothing to hit"),
        })
        .collect();
    writer.fill_many(fills, None).await.expect("fill");
    // The L2 write runs in the background; wait until Redis holds both.
    let deadline = Instant::now() + Duration::from_secs(10);
    while reader
        .l2
        .as_ref()
        .expect("l2")
        .get("market:y")
        .await
        .ok()
        .flatten()
        .is_none()
    {
        assert!(Instant::now() < deadline, "the batch write reached Redis");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answers = reader.get_many_or_lease(&wanted).await.expect("batch");
    for answer in &answers[..2] {
        assert!(matches!(answer, Lookup::Hit(hit) if hit.tier == Tier::L2));
    }
    assert!(matches!(&answers[2], Lookup::Compute(_)));
    drop(answers);
    let again = reader.get_many_or_lease(&wanted[..2]).await.expect("batch");
    for answer in &again {
        assert!(matches!(answer, Lookup::Hit(hit) if hit.tier == Tier::L1));
    }
    writer.clear_pattern("market:*").await;
}

#[tokio::test]
async fn a_value_too_large_for_l1_replaces_the_old_copy_and_is_read_from_redis() {
    let mut large_allowed = settings();
    large_allowed.max_value_bytes = 4096;
    let cache = on_redis_with(&format!("large-{}", std::process::id()), large_allowed);
    cache
        .set("market:big", Bytes::from_static(b"small"), None)
        .await
        .expect("set");
    assert_eq!(
        cache.get("market:big").await.map(|hit| hit.tier),
        Some(Tier::L1)
    );
    // The small value's write-through runs in the background: let it land
    // first, or it could overwrite the large one in Redis.
    let l2 = cache.l2.as_ref().expect("l2");
    let deadline = Instant::now() + Duration::from_secs(10);
    while l2.get("market:big").await.ok().flatten().is_none() {
        assert!(Instant::now() < deadline, "the small value reached Redis");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let big = Bytes::from(vec![b'x'; 2048]);
    cache
        .set("market:big", big.clone(), None)
        .await
        .expect("set");
    let hit = cache.get("market:big").await.expect("the large value");
    assert_eq!(
        (hit.tier, hit.value),
        (Tier::L2, big),
        "never the old small copy"
    );
    cache.clear_pattern("market:*").await;
}
