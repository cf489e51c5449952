//! Checks that L1 keeps to both its entry and byte limits and keeps expired
//! entries for the stale grace, which single-flight and stale-on-error need.

use super::*;

fn entry(bytes: usize, ttl: Duration) -> L1Entry {
    L1Entry {
        value: Bytes::from(vec![0u8; bytes]),
        fresh_until: Instant::now() + ttl,
        grace: Duration::from_secs(60),
        delta: None,
        generation: 0,
    }
}

#[tokio::test]
async fn entry_count_limit_holds_for_small_values() {
    let l1 = L1::new(L1Limits {
        max_entries: 10,
        max_bytes: 1_000_000,
    });
    for i in 0..100 {
        l1.insert(format!("k:{i}"), entry(1, Duration::from_secs(60)))
            .await;
    }
    let (entries, _) = totals(&l1.partitions().await);
    assert!(entries <= 10, "{entries} entries kept");
}

#[tokio::test]
async fn byte_limit_holds_for_large_values() {
    let l1 = L1::new(L1Limits {
        max_entries: 1000,
        max_bytes: 100_000,
    });
    for i in 0..50 {
        l1.insert(format!("k:{i}"), entry(10_000, Duration::from_secs(60)))
            .await;
    }
    let (_, bytes) = totals(&l1.partitions().await);
    assert!(bytes <= 100_000, "{bytes} bytes kept");
}

#[tokio::test]
async fn an_expired_entry_is_kept_for_its_grace_period_but_not_fresh() {
    let l1 = L1::new(L1Limits {
        max_entries: 10,
        max_bytes: 10_000,
    });
    l1.insert("k:stale".into(), entry(3, Duration::ZERO)).await;
    let got = l1.get("k:stale").await.expect("kept during grace");
    assert!(!got.is_fresh());
}

#[tokio::test]
async fn remove_matching_counts_what_it_removed() {
    let l1 = L1::new(L1Limits {
        max_entries: 10,
        max_bytes: 10_000,
    });
    for key in ["market:btc", "market:eth", "report:1"] {
        l1.insert(key.into(), entry(1, Duration::from_secs(60)))
            .await;
    }
    let removed = l1.remove_matching(|k| k.starts_with("market:")).await;
    assert_eq!(removed, 2);
    assert!(l1.get("report:1").await.is_some());
}
