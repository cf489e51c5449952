//! Scale-out (SPEC section 9): three `strata` instances sharing a Redis
//! Cluster of three primaries and one Postgres, on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::echo::{echo_host, upload, version, wait_for_version_within_a_second, wasm};
use crate::support::ws::{
    assert_every_client_saw_the_same_updates, assert_one_refresh_per_tick, connect, stamps,
};
use crate::support::{Backend, Host, RedisCluster, Services};

async fn three_hosts(services: &Services, env: &[(&str, &str)]) -> [Host; 3] {
    [
        services.host_with(env),
        services.host_with(env),
        services.host_with(env),
    ]
}

fn cluster(services: &Services) -> &RedisCluster {
    services.cluster.as_ref().expect("a Redis Cluster")
}

/// Background L2 writes land shortly after the response; poll for them.
fn wait_for_keys(cluster: &RedisCluster, pattern: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys = cluster.keys(pattern);
        if keys.len() >= count || Instant::now() > deadline {
            return keys;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_computed_on_one_instance_is_an_l2_hit_on_the_others() {
    let services = Services::start(Backend::ClusterPostgres).await;
    let [a, b, c] = three_hosts(&services, &[]).await;
    let computed = a.get("/api/market/btc").await;
    assert_eq!(computed.status, 200, "{}", computed.body);
    assert_eq!(computed.cache(), "miss");
    assert_eq!(wait_for_keys(cluster(&services), "market:btc", 1).len(), 1);
    let upstream_calls = services.simulator.requests().await;

    for other in [&b, &c] {
        let reply = other.get("/api/market/btc").await;
        assert_eq!(reply.cache(), "hit-l2", "{}", reply.body);
        assert_eq!(reply.json(), computed.json());
    }
    assert_eq!(services.simulator.requests().await, upstream_calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_on_one_instance_is_honoured_by_the_others() {
    let services = Services::start(Backend::ClusterPostgres).await;
    let [a, b, c] = three_hosts(&services, &[]).await;
    for host in [&a, &b, &c] {
        host.get("/api/market/btc").await;
        host.get("/api/market/eth").await;
        assert_eq!(host.get("/api/market/btc").await.cache(), "hit-l1");
    }

    let cleared = b.admin_post("/clear-cache?pattern=market:*").await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    // A family clear moves `market` to its next generation (one Redis
    // command) instead of removing its keys one by one.
    assert_eq!(
        cleared.json()["cleared"]["generation"],
        1,
        "{}",
        cleared.body
    );
    assert_eq!(cleared.json()["cleared"]["l2"], 0, "{}", cleared.body);

    // Right after B's clear returns, neither A nor C serves its own copy:
    // both recompute (each on its own key, since a recomputed value is
    // shared through L2 at once).
    let btc_on_a = a.get("/api/market/btc").await;
    assert_eq!(btc_on_a.cache(), "miss", "{}", btc_on_a.body);
    let eth_on_c = c.get("/api/market/eth").await;
    assert_eq!(eth_on_c.cache(), "miss", "{}", eth_on_c.body);
    // A's write-through runs beside its response; on a loaded machine it
    // can land after C asks, so wait for it rather than race it.
    wait_for_keys(cluster(&services), "market@1:btc", 1);
    let btc_on_c = c.get("/api/market/btc").await;
    assert_eq!(
        btc_on_c.cache(),
        "hit-l2",
        "C takes A's new value, not its old copy"
    );
    assert_eq!(btc_on_c.json(), btc_on_a.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_clear_removes_matching_keys_from_every_primary() {
    let services = Services::start(Backend::ClusterPostgres).await;
    let [a, b, _c] = three_hosts(&services, &[]).await;
    let symbols: Vec<String> = (16..56).map(|n| format!("c{n:04}")).collect();
    for symbol in &symbols {
        let reply = a.get(&format!("/api/market/{symbol}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let cluster = cluster(&services);
    let stored = wait_for_keys(cluster, "market:*", symbols.len());
    assert_eq!(stored.len(), symbols.len());
    let mut owners: Vec<Option<usize>> = stored.iter().map(|key| cluster.owner_of(key)).collect();
    owners.sort();
    owners.dedup();
    assert_eq!(owners.len(), 3, "the keys are spread over all primaries");

    let cleared = b.admin_post("/clear-cache?pattern=market:c00*").await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(
        cleared.json()["cleared"]["l2"],
        symbols.len(),
        "{}",
        cleared.body
    );
    assert!(cluster.keys("market:*").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_on_one_instance_is_served_by_the_others_within_a_second() {
    let services = Services::start(Backend::ClusterPostgres).await;
    let [a, b, c] = [
        echo_host(&services, &[]),
        echo_host(&services, &[]),
        echo_host(&services, &[]),
    ];
    for host in [&a, &b] {
        assert_eq!(version(host).await, "v1");
    }
    let admin = c.admin_url.as_deref().expect("admin listener");
    let (status, body) = upload(admin, "echo", wasm(test_programs::ECHO_V2)).await;
    assert_eq!(status, 201, "{body}");
    let deployed = Instant::now();
    for host in [&a, &b] {
        wait_for_version_within_a_second(host, "v2", deployed).await;
    }
    println!(
        "both instances switched {:?} after the deploy returned",
        deployed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_broadcast_reaches_clients_on_all_three_instances_once() {
    let services = Services::start(Backend::ClusterPostgres).await;
    let hosts = three_hosts(&services, &[("STRATA_DASHBOARD_REFRESH_SECONDS", "1")]).await;
    let sockets = [
        connect(&hosts[0]).await,
        connect(&hosts[1]).await,
        connect(&hosts[2]).await,
    ];
    let before = services.simulator.requests().await;
    let window = Duration::from_millis(4500);
    let [s0, s1, s2] = sockets;
    let (a, b, c) = tokio::join!(stamps(s0, window), stamps(s1, window), stamps(s2, window));
    let upstream_calls = services.simulator.requests().await - before;

    assert_every_client_saw_the_same_updates(&[&a, &b, &c]);
    assert_one_refresh_per_tick(upstream_calls, &a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_redis_primary_during_load_fails_no_request() {
    let mut services = Services::start(Backend::ClusterPostgres).await;
    let hosts = Arc::new(three_hosts(&services, &[]).await);
    let symbols: Arc<Vec<String>> = Arc::new((16..76).map(|n| format!("c{n:04}")).collect());
    let victim = cluster(&services)
        .owner_of("market:c0016")
        .expect("a live owner");

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..6)
        .map(|worker| {
            let (hosts, symbols, stop, served) =
                (hosts.clone(), symbols.clone(), stop.clone(), served.clone());
            tokio::spawn(async move {
                let mut failures = Vec::new();
                let mut n = worker;
                while !stop.load(Ordering::Relaxed) {
                    let host = &hosts[n % 3];
                    let path = format!("/api/market/{}", symbols[n % symbols.len()]);
                    let reply = host.get(&path).await;
                    if reply.status != 200 {
                        failures.push(format!("{path}: {} {}", reply.status, reply.body));
                    }
                    served.fetch_add(1, Ordering::Relaxed);
                    n += 7;
                }
                failures
            })
        })
        .collect();

    // Clears every 300 ms keep the load going through L2 (and pub/sub)
    // instead of settling into L1 hits.
    let clearer = {
        let (hosts, stop) = (hosts.clone(), stop.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let reply = hosts[n % 3]
                    .admin_post("/clear-cache?pattern=market:*")
                    .await;
                statuses.push(reply.status);
                n += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            statuses
        })
    };

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_kill = served.load(Ordering::Relaxed);
    if let Some(cluster) = services.cluster.as_mut() {
        cluster.kill(victim);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await.expect("load worker"));
    }
    let clears = clearer.await.expect("clearer");
    assert!(clears.iter().all(|status| *status == 200), "{clears:?}");
    let total = served.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {failures:?}",
        failures.len()
    );
    println!(
        "{total} requests, {before_kill} before the kill, {} clears, none failed",
        clears.len()
    );
    assert!(
        total > before_kill + 50,
        "load kept flowing after the kill ({before_kill} before, {total} in all)"
    );

    // The surviving primaries still share values between instances (once
    // the breakers that the dead primary's errors may have opened let a
    // probe through again). The clears moved `market` to a new generation,
    // which is part of each key's Redis name (`market@N:...`) and so of
    // its slot: a key lands on a surviving primary or it does not, and the
    // probe moves on to the next symbol when it does not.
    let cluster = cluster(&services);
    let mut symbols = (100..400).map(|n| format!("c{n:04}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let symbol = symbols.next().expect("symbols to try");
        let path = format!("/api/market/{symbol}");
        assert_eq!(hosts[0].get(&path).await.cache(), "miss");
        let landed = Instant::now() + Duration::from_secs(2);
        while cluster.keys(&format!("market*:{symbol}")).is_empty() && Instant::now() < landed {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if hosts[1].get(&path).await.cache() == "hit-l2" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no value was shared through the surviving primaries"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
