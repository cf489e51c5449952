//! Checks the layout rules operators rely on: disjoint grants never share
//! a budget, overlapping ones always do, and budgets add up.

use super::*;
use crate::l1::{HOST_PARTITION, L1, L1Entry, L1Limits};
use bytes::Bytes;
use std::time::{Duration, Instant};

fn tenant(name: &str, prefixes: &[&str], l1_bytes: Option<u64>) -> Tenant {
    Tenant {
        name: name.into(),
        prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        l1_bytes,
    }
}

#[test]
fn disjoint_components_get_even_default_shares_and_the_host_one_more() {
    let specs = partitions(
        &[
            tenant("market", &["market:", "indicator:"], None),
            tenant("dashboard", &["dashboard:"], None),
            tenant("report", &["report:"], None),
        ],
        400,
    )
    .expect("fits");
    let sizes: Vec<(&str, u64)> = specs
        .iter()
        .map(|s| (s.name.as_str(), s.max_bytes))
        .collect();
    assert_eq!(
        sizes,
        [("dashboard", 100), ("market", 100), ("report", 100)]
    );
}

#[test]
fn explicit_budgets_are_kept_and_the_rest_is_shared_out() {
    let specs = partitions(
        &[
            tenant("market", &["market:"], Some(300)),
            tenant("dashboard", &["dashboard:"], None),
        ],
        1000,
    )
    .expect("fits");
    let sizes: Vec<(&str, u64)> = specs
        .iter()
        .map(|s| (s.name.as_str(), s.max_bytes))
        .collect();
    assert_eq!(sizes, [("dashboard", 350), ("market", 300)]);
}

#[test]
fn overlapping_grants_share_one_budget() {
    let specs = partitions(
        &[
            tenant("a", &["market:"], Some(100)),
            tenant("b", &["market:btc"], Some(50)),
            tenant("c", &["report:"], Some(10)),
            tenant("d", &["report:"], Some(10)),
        ],
        1000,
    )
    .expect("fits");
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[0].name, "a+b");
    assert_eq!(specs[0].max_bytes, 150);
    assert_eq!(specs[0].prefixes, ["market:", "market:btc"]);
    assert_eq!(specs[1].name, "c+d");
}

#[test]
fn budgets_over_the_whole_are_refused() {
    assert_eq!(
        partitions(
            &[
                tenant("a", &["a:"], Some(600)),
                tenant("b", &["b:"], Some(500))
            ],
            1000
        ),
        Err(QuotaError::OverCommitted {
            claimed: 1100,
            total: 1000
        })
    );
}

#[test]
fn a_component_without_keys_takes_no_share() {
    let specs = partitions(
        &[tenant("a", &["a:"], None), tenant("sql-only", &[], None)],
        300,
    )
    .expect("fits");
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].max_bytes, 150);
}

fn entry(bytes: usize) -> L1Entry {
    L1Entry {
        value: Bytes::from(vec![0u8; bytes]),
        fresh_until: Instant::now() + Duration::from_secs(60),
        grace: Duration::ZERO,
        delta: None,
        generation: 0,
    }
}

#[tokio::test]
async fn a_component_flooding_its_share_never_evicts_anothers_entries() {
    let l1 = L1::new(L1Limits {
        max_entries: 10_000,
        max_bytes: 3 << 20,
    });
    l1.set_partitions(
        partitions(
            &[
                tenant("flood", &["flood:"], None),
                tenant("quiet", &["quiet:"], None),
            ],
            3 << 20,
        )
        .expect("fits"),
    )
    .await;
    for n in 0..50 {
        l1.insert(format!("quiet:{n}"), entry(1000)).await;
    }
    for n in 0..20_000 {
        l1.insert(format!("flood:{n}"), entry(1000)).await;
    }
    for n in 0..50 {
        assert!(
            l1.get(&format!("quiet:{n}")).await.is_some(),
            "quiet:{n} kept"
        );
    }
    let stats = l1.partitions().await;
    let flood = stats
        .iter()
        .find(|p| p.name == "flood")
        .expect("flood share");
    assert!(flood.weighted_size_bytes <= flood.max_bytes, "{flood:?}");
    assert!(
        flood.evictions > 0,
        "the flood evicted its own entries: {flood:?}"
    );
    let quiet = stats
        .iter()
        .find(|p| p.name == "quiet")
        .expect("quiet share");
    assert_eq!((quiet.entries, quiet.evictions), (50, 0), "{quiet:?}");
    assert_eq!(stats.last().map(|p| p.name.as_str()), Some(HOST_PARTITION));
}

#[tokio::test]
async fn an_unchanged_share_keeps_its_entries_across_a_new_layout() {
    let l1 = L1::new(L1Limits {
        max_entries: 1000,
        max_bytes: 1 << 20,
    });
    let layout = |extra: bool| {
        let mut tenants = vec![tenant("a", &["a:"], Some(1 << 18))];
        if extra {
            tenants.push(tenant("b", &["b:"], Some(1 << 18)));
        }
        partitions(&tenants, 1 << 20).expect("fits")
    };
    l1.set_partitions(layout(false)).await;
    l1.insert("a:1".into(), entry(10)).await;
    l1.set_partitions(layout(true)).await;
    assert!(l1.get("a:1").await.is_some(), "a's share was reused");
}

#[tokio::test]
async fn keys_a_new_layout_routes_elsewhere_leave_the_share_that_kept_them() {
    let l1 = L1::new(L1Limits {
        max_entries: 1000,
        max_bytes: 1 << 20,
    });
    l1.insert("b:1".into(), entry(10)).await;
    let with_b = partitions(&[tenant("b", &["b:"], Some(1 << 18))], 1 << 20).expect("fits");
    l1.set_partitions(with_b).await;
    assert!(
        l1.get("b:1").await.is_none(),
        "not served from b's new share"
    );
    l1.set_partitions(Vec::new()).await;
    assert!(
        l1.get("b:1").await.is_none(),
        "the host's share dropped it when b took the prefix"
    );
}
