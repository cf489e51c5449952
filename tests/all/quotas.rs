//! Per-component L1 budgets seen from outside (issue #18, item 4): a
//! component that floods the cache evicts only its own entries, and one
//! cannot hold leases without bound. Budgets that do not fit are refused
//! at start (`startup.rs`).

use crate::support::{Backend, Host, Services};

/// The market component and the hostile one side by side, without Redis,
/// in an L1 of 4 MiB split three ways (market, hostile, host).
fn shared_host(services: &Services) -> Host {
    let manifest = format!(
        r#"
[components.market]
source = "builtin:market"
cache_prefixes = ["market:", "symbols:"]
outbound = [{upstream:?}]
config = {{ upstream_url = {upstream:?} }}

[components.hostile]
source = {hostile:?}
cache_prefixes = ["hostile:"]
sql = "read-only"
outbound = [{upstream:?}]

[[routes]]
path = "/api/market/{{symbol}}"
component = "market"

[[routes]]
path = "/hostile/{{mode}}"
component = "hostile"
"#,
        hostile = test_programs::HOSTILE,
        upstream = services.simulator.url,
    );
    let path = services.dir.path().join("quotas.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    services.host_with(&[
        ("STRATA_MANIFEST", path.to_str().expect("utf-8")),
        ("STRATA_CACHE_L1_MAX_BYTES", "4194304"),
        ("CACHE_L1_CAPACITY", "100000"),
    ])
}

fn share<'a>(stats: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    stats["l1_cache"]["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .find(|share| share["name"] == name)
        .unwrap_or_else(|| panic!("no share {name} in {stats}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_flooding_the_cache_cannot_evict_anothers_entries() {
    let services = Services::start(Backend::Bare).await;
    let host = shared_host(&services);
    assert_eq!(host.get("/api/market/btc").await.cache(), "miss");
    assert_eq!(host.get("/api/market/btc").await.cache(), "hit-l1");

    let flood = host.get("/hostile/cache-flood").await;
    assert_eq!(flood.status, 200, "{}", flood.body);

    let after = host.get("/api/market/btc").await;
    assert_eq!(after.cache(), "hit-l1", "market's entry survived the flood");
    let stats = host.get("/cache-stats").await.json();
    let hostile = share(&stats, "hostile");
    assert!(hostile["evictions"].as_u64() > Some(0), "{hostile}");
    assert!(
        hostile["weighted_size_bytes"].as_u64() <= hostile["max_bytes"].as_u64(),
        "{hostile}"
    );
    assert_eq!(share(&stats, "market")["evictions"], 0, "{stats}");
    let metrics = host.get("/metrics").await.body;
    assert!(
        metrics.contains("strata_cache_l1_share_evictions_total{share=\"hostile\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_holding_too_many_leases_is_refused_more() {
    let services = Services::start(Backend::Bare).await;
    let host = shared_host(&services);
    let hoard = host.get("/hostile/lease-hoard").await;
    assert_eq!(hoard.status, 200, "{}", hoard.body);
    assert_eq!(hoard.json()["held"], 1024, "{}", hoard.body);
    assert_eq!(hoard.json()["refused"], "denied", "{}", hoard.body);
    // The hoarder's leases ended with its instance: the keys are free.
    assert_eq!(host.get("/hostile/lease-hoard").await.json()["held"], 1024);
}
