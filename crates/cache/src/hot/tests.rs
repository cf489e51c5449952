//! Warm start against real Redis: what one instance records is what the
//! next one loads, within its limits, in a single server and in a
//! Cluster. Each test on the shared server has a namespace of its own.

use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_backplane::{Backplane, Namespace, Timeouts, Topology};
use strata_testkit::{Redis, RedisCluster, free_port};

use crate::testing::settings;
use crate::{CacheSettings, FamilyPolicy, L2, Lookup, Tier, TieredCache, WarmStop};

fn shared_redis() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

fn namespace(test: &str) -> Namespace {
    Namespace::new(&format!("warm-{test}-{}", std::process::id())).expect("namespace")
}

/// The test settings, plus `local`, a family kept in L1 only, room for
/// every key the tests use, and every hit counted (so which keys are
/// hottest does not depend on chance).
fn warm_settings() -> CacheSettings {
    let mut settings = settings();
    settings.l1.max_entries = 1000;
    settings.hot.sample_one_in = 1;
    settings.families.insert(
        "local".into(),
        FamilyPolicy {
            ttl_seconds: 60,
            l1_only: true,
            max_ttl_seconds: None,
            negative_ttl_seconds: None,
            early_refresh: false,
            early_refresh_beta: None,
        },
    );
    settings
}

fn instance(topology: Topology, ns: &Namespace, settings: CacheSettings) -> TieredCache {
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_secs(2),
    };
    let backplane = Backplane::new(topology, timeouts, ns.clone()).expect("backplane");
    TieredCache::new(settings, Some(L2::new(backplane, Duration::from_secs(2))))
}

fn on_shared(ns: &Namespace, settings: CacheSettings) -> TieredCache {
    instance(Topology::Standalone(shared_redis()), ns, settings)
}

fn value(size: usize) -> Bytes {
    Bytes::from(vec![b'v'; size])
}

/// Stores `keys` in both tiers (awaited, one by one: a cluster spreads
/// them over its primaries) and reads each `hits` times from L1.
async fn serve(cache: &TieredCache, keys: &[String], hits: usize) {
    for key in keys {
        // The instance's first resync, once its subscription is up, may
        // drop a family it just wrote (it cannot yet tell its own change
        // marks from others'): write again until L1 holds the value.
        for _ in 0..50 {
            cache.put(key, value(100)).await.expect("put");
            if cache.get(key).await.map(|hit| hit.tier) == Some(Tier::L1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for key in keys {
        for _ in 0..hits {
            assert_eq!(cache.get(key).await.expect("hit").tier, Tier::L1);
        }
    }
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

async fn tier(cache: &TieredCache, key: &str) -> Option<Tier> {
    cache.get(key).await.map(|hit| hit.tier)
}

#[tokio::test]
async fn a_fresh_instance_serves_the_previous_hot_set_from_l1() {
    let ns = namespace("hot-set");
    let mut settings = warm_settings();
    settings.hot.keys_per_family = 4;
    let a = on_shared(&ns, settings.clone());
    let hot = keys("market:hot", 4);
    let cold = keys("market:cold", 6);
    serve(&a, &hot, 20).await;
    serve(&a, &cold, 1).await;
    assert_eq!(a.record_hot_keys().await.expect("recorded"), 4);

    let b = on_shared(&ns, settings);
    let report = b.warm_up(b.warm_limits()).await;
    assert_eq!(
        (report.recorded, report.loaded, report.stopped),
        (4, 4, None)
    );
    for key in &hot {
        assert_eq!(tier(&b, key).await, Some(Tier::L1), "{key}");
    }
    for key in &cold {
        assert_eq!(
            tier(&b, key).await,
            Some(Tier::L2),
            "{key} is past the top 4"
        );
    }
    assert_eq!(b.stats().await.warmed_keys, 4);
}

#[tokio::test]
async fn only_values_of_families_in_redis_are_recorded() {
    let ns = namespace("values-only");
    let a = on_shared(&ns, warm_settings());
    serve(&a, &keys("market:v", 2), 5).await;
    serve(&a, &keys("local:v", 2), 5).await;
    let Lookup::Compute(lease) = a.resolve("market:gone").await.expect("lookup") else {
        panic!("a new key is computed");
    };
    a.fill_negative(lease, Bytes::from_static(b"404"))
        .await
        .expect("remember");
    for _ in 0..5 {
        assert!(matches!(
            a.resolve("market:gone").await,
            Ok(Lookup::Negative(_))
        ));
    }
    assert_eq!(a.record_hot_keys().await.expect("recorded"), 2);
}

#[tokio::test]
async fn instances_add_to_the_record_without_wiping_each_other() {
    let ns = namespace("merge");
    let a = on_shared(&ns, warm_settings());
    let c = on_shared(&ns, warm_settings());
    serve(&a, &keys("market:a", 3), 5).await;
    serve(&c, &keys("market:c", 3), 5).await;
    a.record_hot_keys().await.expect("recorded");
    c.record_hot_keys().await.expect("recorded");
    // Recording again (with counts halved meanwhile) takes nothing away.
    a.record_hot_keys().await.expect("recorded");

    let b = on_shared(&ns, warm_settings());
    let report = b.warm_up(b.warm_limits()).await;
    assert_eq!(report.loaded, 6);
    for key in keys("market:a", 3).iter().chain(&keys("market:c", 3)) {
        assert_eq!(tier(&b, key).await, Some(Tier::L1), "{key}");
    }
}

#[tokio::test]
async fn a_byte_budget_smaller_than_the_hot_set_loads_only_up_to_it() {
    let ns = namespace("bytes");
    let a = on_shared(&ns, warm_settings());
    serve(&a, &keys("market:k", 4), 5).await;
    a.record_hot_keys().await.expect("recorded");

    let b = on_shared(&ns, warm_settings());
    let mut limits = b.warm_limits();
    // Each entry weighs 9 bytes of key plus 100 of value.
    limits.max_bytes = 250;
    let report = b.warm_up(limits).await;
    assert_eq!(report.loaded, 2);
    assert_eq!(report.bytes, 218);
    assert_eq!(report.stopped, Some(WarmStop::ByteBudget));
    assert_eq!(b.stats().await.l1.entries, 2);
}

#[tokio::test]
async fn a_deadline_that_has_passed_loads_nothing_and_says_so() {
    let ns = namespace("deadline");
    let a = on_shared(&ns, warm_settings());
    serve(&a, &keys("market:k", 2), 5).await;
    a.record_hot_keys().await.expect("recorded");

    let b = on_shared(&ns, warm_settings());
    let mut limits = b.warm_limits();
    limits.deadline = Duration::ZERO;
    let report = b.warm_up(limits).await;
    assert_eq!((report.fetched, report.loaded), (0, 0));
    assert_eq!(report.stopped, Some(WarmStop::Deadline));
    assert_eq!(tier(&b, "market:k0").await, Some(Tier::L2));
}

#[tokio::test]
async fn a_stopped_redis_means_a_cold_start_not_an_error() {
    let ns = Namespace::default();
    let redis = Redis::start().expect("private redis");
    let url = redis.url();
    let a = instance(Topology::Standalone(url.clone()), &ns, warm_settings());
    serve(&a, &keys("market:k", 2), 5).await;
    a.record_hot_keys().await.expect("recorded");
    drop(redis);

    assert!(a.record_hot_keys().await.is_err());
    let b = instance(Topology::Standalone(url), &ns, warm_settings());
    let report = b.warm_up(b.warm_limits()).await;
    assert_eq!(report.loaded, 0);
    assert!(
        matches!(
            report.stopped,
            Some(WarmStop::Unavailable(_) | WarmStop::Deadline)
        ),
        "{report:?}"
    );
}

#[tokio::test]
async fn nothing_listening_means_a_cold_start_not_an_error() {
    let url = format!("redis://127.0.0.1:{}/", free_port());
    let b = instance(
        Topology::Standalone(url),
        &Namespace::default(),
        warm_settings(),
    );
    let report = b.warm_up(b.warm_limits()).await;
    assert_eq!(report.loaded, 0);
    assert!(
        matches!(report.stopped, Some(WarmStop::Unavailable(_))),
        "{report:?}"
    );
}

#[tokio::test]
async fn without_l2_there_is_nothing_to_warm_from() {
    let cache = TieredCache::new(warm_settings(), None);
    assert_eq!(cache.record_hot_keys().await.expect("no-op"), 0);
    let report = cache.warm_up(cache.warm_limits()).await;
    assert_eq!(report.stopped, Some(WarmStop::NoL2));
}

#[tokio::test]
async fn a_recorded_key_whose_value_is_gone_is_skipped() {
    let ns = namespace("gone");
    let a = on_shared(&ns, warm_settings());
    serve(&a, &keys("market:k", 2), 5).await;
    a.record_hot_keys().await.expect("recorded");
    let mut raw = redis::Client::open(shared_redis())
        .and_then(|c| c.get_connection())
        .expect("raw connection");
    redis::cmd("UNLINK")
        .arg(ns.cache_key("market:k1"))
        .query::<()>(&mut raw)
        .expect("unlink");

    let b = on_shared(&ns, warm_settings());
    let report = b.warm_up(b.warm_limits()).await;
    assert_eq!((report.fetched, report.loaded), (2, 1));
    assert_eq!(tier(&b, "market:k0").await, Some(Tier::L1));
    assert_eq!(tier(&b, "market:k1").await, None);
}

#[tokio::test]
async fn a_warmed_value_is_fresh_no_longer_than_redis_keeps_it() {
    let ns = namespace("ttl");
    let a = on_shared(&ns, warm_settings());
    serve(&a, &keys("market:k", 1), 5).await;
    a.record_hot_keys().await.expect("recorded");
    let mut raw = redis::Client::open(shared_redis())
        .and_then(|c| c.get_connection())
        .expect("raw connection");
    redis::cmd("PEXPIRE")
        .arg(ns.cache_key("market:k0"))
        .arg(5_000)
        .query::<()>(&mut raw)
        .expect("pexpire");

    let b = on_shared(&ns, warm_settings());
    assert_eq!(b.warm_up(b.warm_limits()).await.loaded, 1);
    let entry = b.l1.get("market:k0").await.expect("warmed");
    // The family's TTL is 60 s; Redis keeps the value 5 s more at most.
    assert!(entry.fresh_until <= Instant::now() + Duration::from_secs(5));
}

#[tokio::test]
async fn in_a_cluster_keys_on_every_primary_are_recorded_and_prefetched() {
    let cluster = RedisCluster::start().expect("redis cluster");
    let topology = || Topology::Cluster(cluster.urls().split(',').map(String::from).collect());
    let ns = Namespace::default();
    let a = instance(topology(), &ns, warm_settings());
    let hot = keys("market:c", 30);
    serve(&a, &hot, 3).await;
    let owners: std::collections::BTreeSet<usize> =
        hot.iter().filter_map(|key| cluster.owner_of(key)).collect();
    assert_eq!(owners.len(), 3, "the keys live on all three primaries");
    assert_eq!(a.record_hot_keys().await.expect("recorded"), 30);

    let b = instance(topology(), &ns, warm_settings());
    let report = b.warm_up(b.warm_limits()).await;
    assert_eq!((report.loaded, &report.stopped), (30, &None), "{report:?}");
    for key in &hot {
        assert_eq!(tier(&b, key).await, Some(Tier::L1), "{key}");
    }
}
