//! Family generations against real Redis servers (a private one per test,
//! and a three-primary cluster): a family clear costs a constant number of
//! Redis commands however many keys the family holds, and an instance that
//! missed messages drops only the families that changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_backplane::{Backplane, Namespace, Timeouts, Topology};
use strata_cache::{CacheSettings, L1Limits, L2, Tier, TieredCache};
use strata_testkit::{Redis, RedisCluster};

fn settings() -> CacheSettings {
    CacheSettings {
        l1: L1Limits {
            max_entries: 10_000,
            max_bytes: 64 << 20,
        },
        l1_ttl: Duration::from_secs(600),
        l2_ttl: Duration::from_secs(600),
        stale_grace: Duration::ZERO,
        max_value_bytes: 1 << 20,
        l1_max_value_bytes: 1 << 20,
        max_ttl: Duration::from_secs(3600),
        families: BTreeMap::new(),
        flight_wait: Duration::from_secs(10),
        negative_ttl: Duration::from_secs(30),
        hot: strata_cache::HotKeySettings::default(),
    }
}

fn cache_on(topology: Topology) -> TieredCache {
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_secs(5),
    };
    let backplane = Backplane::new(topology, timeouts, Namespace::default()).expect("backplane");
    TieredCache::new(settings(), Some(L2::new(backplane, Duration::from_secs(5))))
}

fn standalone(redis: &Redis) -> TieredCache {
    cache_on(Topology::Standalone(redis.url()))
}

/// Writes `count` keys `family:i` straight into Redis, as generation 0,
/// through `run` (a pipeline for one server or a cluster).
fn seed_with(family: &str, count: usize, mut run: impl FnMut(Vec<(String, &'static [u8])>)) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
        run(chunk
            .iter()
            .map(|i| {
                (
                    strata_testkit::l2_key(&format!("{family}:{i}")),
                    b"old".as_slice(),
                )
            })
            .collect());
    }
}

fn seed(conn: &mut redis::Connection, family: &str, count: usize) {
    seed_with(family, count, |pairs| {
        let mut pipe = redis::pipe();
        for (key, value) in pairs {
            pipe.cmd("SET")
                .arg(key)
                .arg(value)
                .arg("EX")
                .arg(600)
                .ignore();
        }
        pipe.query::<()>(conn).expect("seed");
    });
}

fn seed_cluster(cluster: &RedisCluster, family: &str, count: usize) {
    let urls: Vec<String> = cluster.urls().split(',').map(str::to_string).collect();
    let mut conn = redis::cluster::ClusterClient::new(urls)
        .and_then(|client| client.get_connection())
        .expect("cluster connection");
    seed_with(family, count, |pairs| {
        let mut pipe = redis::cluster::cluster_pipe();
        for (key, value) in pairs {
            pipe.cmd("SET")
                .arg(key)
                .arg(value)
                .arg("EX")
                .arg(600)
                .ignore();
        }
        pipe.query::<()>(&mut conn).expect("seed");
    });
}

/// Commands the server has executed so far (`INFO commandstats`, minus
/// the INFO calls themselves).
fn commands_run(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(conn)
        .expect("INFO");
    info.lines()
        .filter(|line| !line.starts_with("cmdstat_info:"))
        .filter_map(|line| {
            line.split_once("calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Lets background write-throughs and broadcasts land.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_clear_of_100k_keys_takes_a_constant_number_of_commands() {
    let redis = Redis::start().expect("redis");
    let mut conn = redis.connection();
    seed(&mut conn, "fam", 100_000);
    let cache = standalone(&redis);
    let old = cache.get("fam:42").await.expect("seeded value");
    assert_eq!(old.value, Bytes::from_static(b"old"));
    settle().await;

    let before = commands_run(&mut conn);
    let cleared = cache.clear_pattern("fam:*").await;
    let sent = commands_run(&mut conn) - before;

    assert_eq!(cleared.generation, Some(1));
    assert_eq!(cleared.l2_error, None);
    // Counted as the server runs them: the bump script (EVALSHA, refused
    // the first time, SCRIPT LOAD, EVALSHA again; HSETNX, HEXISTS, HLEN and
    // HINCRBY inside it), a PUBLISH and this instance's own
    // acknowledgement. A SCAN+UNLINK of 100k keys runs hundreds.
    assert!(sent <= 10, "the clear ran {sent} commands");
    for i in [0, 42, 99_999] {
        assert_eq!(cache.get(&format!("fam:{i}")).await, None, "fam:{i}");
    }
    assert_eq!(cache.stats().await.family_clears, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_clear_in_a_cluster_reaches_every_primary_in_a_constant_number_of_commands() {
    let cluster = RedisCluster::start().expect("cluster");
    seed_cluster(&cluster, "fam", 100_000);
    let topology = || Topology::Cluster(cluster.urls().split(',').map(str::to_string).collect());
    let cache = cache_on(topology());
    let keys: Vec<String> = (0..30).map(|i| format!("fam:{i}")).collect();
    let owners: std::collections::BTreeSet<usize> = keys
        .iter()
        .filter_map(|key| cluster.owner_of(key))
        .collect();
    assert_eq!(owners.len(), 3, "the keys span every primary");
    for key in &keys {
        assert!(cache.get(key).await.is_some(), "{key} seeded");
    }
    settle().await;

    let mut conns: Vec<redis::Connection> = cluster
        .nodes
        .iter()
        .flatten()
        .map(Redis::connection)
        .collect();
    let before: u64 = conns.iter_mut().map(commands_run).sum();
    let cleared = cache.clear_pattern("fam:*").await;
    let sent = conns.iter_mut().map(commands_run).sum::<u64>() - before;

    assert_eq!(cleared.generation, Some(1));
    assert_eq!(cleared.l2_error, None);
    // What one server runs, plus PUBSUB NUMSUB on each primary to count
    // receivers, and slack for the client's own slot-map refreshes; a
    // SCAN+UNLINK of 100k keys runs hundreds.
    assert!(sent <= 20, "the clear ran {sent} commands");
    for key in &keys {
        assert_eq!(cache.get(key).await, None, "{key}");
    }
    let fresh = cache_on(topology());
    assert_eq!(fresh.get("fam:7").await, None, "a new instance too");
}

/// Two instances on one private Redis, both holding `a:1` and `b:1` in L1.
async fn two_instances(redis: &Redis) -> (TieredCache, TieredCache) {
    let one = standalone(redis);
    let two = standalone(redis);
    for (key, value) in [("a:1", b"a-old".as_slice()), ("b:1", b"b")] {
        two.put(key, Bytes::from_static(value)).await.expect("put");
    }
    for key in ["a:1", "b:1"] {
        assert!(one.get(key).await.is_some(), "{key} reaches instance 1");
        assert_eq!(one.get(key).await.expect("hit").tier, Tier::L1);
    }
    (one, two)
}

/// Kills every pub/sub connection, so instance 1's subscription is cut;
/// it resubscribes about a second later.
fn cut_subscriptions(redis: &Redis) {
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut redis.connection())
        .expect("CLIENT KILL");
    assert!(killed >= 1, "a subscription was cut");
}

/// Runs `change` on instance 2 while instance 1 cannot hear about it,
/// then waits until instance 1 has resubscribed and dropped what changed.
async fn while_instance_one_is_deaf(
    redis: &Redis,
    one: &TieredCache,
    change: impl Future<Output = ()>,
) {
    let drops =
        |stats: strata_cache::CacheStats| stats.resync_family_drops + stats.resync_full_drops;
    let before = drops(one.stats().await);
    // Pub/sub delivery cannot be paused, so every subscription is cut and
    // the change made at once, well inside the second a listener waits
    // before it resubscribes.
    cut_subscriptions(redis);
    change.await;
    for _ in 0..200 {
        if drops(one.stats().await) > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("instance 1 did not resynchronise");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_cleared_while_an_instance_was_deaf_is_dropped_and_others_are_kept() {
    let redis = Redis::start().expect("redis");
    let (one, two) = two_instances(&redis).await;
    while_instance_one_is_deaf(&redis, &one, async {
        let cleared = two.clear_pattern("a:*").await;
        assert_eq!(cleared.generation, Some(1));
    })
    .await;
    assert_eq!(one.get("a:1").await, None, "no stale a:1");
    let kept = one.get("b:1").await.expect("b:1 kept");
    assert_eq!(kept.tier, Tier::L1, "the other family stayed in L1");
    let stats = one.stats().await;
    assert_eq!(stats.resync_family_drops, 1);
    assert_eq!(stats.resync_full_drops, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_deleted_while_an_instance_was_deaf_drops_its_family_only() {
    let redis = Redis::start().expect("redis");
    let (one, two) = two_instances(&redis).await;
    while_instance_one_is_deaf(&redis, &one, async {
        two.delete("a:1").await;
    })
    .await;
    assert_eq!(one.get("a:1").await, None, "no stale a:1");
    assert_eq!(one.get("b:1").await.expect("b:1 kept").tier, Tier::L1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rewritten_while_an_instance_was_deaf_is_read_anew() {
    let redis = Redis::start().expect("redis");
    let (one, two) = two_instances(&redis).await;
    while_instance_one_is_deaf(&redis, &one, async {
        two.put("a:1", Bytes::from_static(b"a-new"))
            .await
            .expect("put");
    })
    .await;
    let hit = one.get("a:1").await.expect("a:1");
    assert_eq!(hit.value, Bytes::from_static(b"a-new"));
    assert_eq!(one.get("b:1").await.expect("b:1 kept").tier, Tier::L1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_reads_and_listings_see_only_the_current_generation() {
    let redis = Redis::start().expect("redis");
    let cache = standalone(&redis);
    cache
        .put_many(vec![
            ("kv:a".into(), Bytes::from_static(b"1")),
            ("kv:b".into(), Bytes::from_static(b"2")),
        ])
        .await
        .expect("put");
    cache.clear_pattern("kv:*").await;
    cache
        .put("kv:c", Bytes::from_static(b"3"))
        .await
        .expect("put");
    // A second instance reads Redis, not an L1 copy.
    let other = standalone(&redis);
    let keys = vec!["kv:a".to_string(), "kv:c".to_string()];
    assert_eq!(
        other.get_many(&keys).await,
        [None, Some(Bytes::from_static(b"3"))]
    );
    assert_eq!(other.current("kv:b").await, Ok(None));
    assert_eq!(other.increment("kv:n", 2).await, Ok(2));
    let listed = other.list_keys("kv:", None).await.expect("listing");
    assert_eq!(listed.keys, ["kv:c", "kv:n"]);
    let by_family_prefix = other.list_keys("k", None).await.expect("listing");
    assert_eq!(by_family_prefix.keys, ["kv:c", "kv:n"]);
    let raw: Vec<String> = redis::cmd("KEYS")
        .arg("strata:cache:kv*")
        .query(&mut redis.connection())
        .expect("KEYS");
    assert_eq!(raw.len(), 4, "old keys stay until their TTL: {raw:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_finer_than_a_family_is_cleared_key_by_key_in_the_current_generation() {
    let redis = Redis::start().expect("redis");
    let cache = Arc::new(standalone(&redis));
    cache.clear_pattern("a:*").await;
    for key in ["a:1", "a:10", "a:2"] {
        cache.put(key, Bytes::from_static(b"v")).await.expect("put");
    }
    let cleared = cache.clear_pattern("a:1*").await;
    assert_eq!(cleared.generation, None);
    assert_eq!(cleared.l2, 2);
    let other = standalone(&redis);
    assert_eq!(other.get("a:1").await, None);
    assert_eq!(other.get("a:10").await, None);
    assert!(other.get("a:2").await.is_some());
    // A glob in the family part spans the generation too.
    let cleared = cache.clear_pattern("?:2").await;
    assert_eq!(cleared.l2, 1);
    assert_eq!(standalone(&redis).get("a:2").await, None);
}
