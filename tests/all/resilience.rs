//! The cache under stress and failure: single-flight, stale-on-error, and a
//! Redis that dies and comes back while requests keep flowing.

use std::time::{Duration, Instant};

use crate::support::{Backend, Redis, Services, http};
use redis::Commands;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_cold_requests_for_one_key_compute_once() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    // Another symbol first, so the symbol list is cached and the cold key
    // below costs exactly its own quote.
    assert_eq!(host.get("/api/market/btc").await.status, 200);
    services
        .simulator
        .set_faults(json!({ "latency_ms": 300 }))
        .await;
    let before = services.simulator.requests().await;

    let url = format!("{}/api/market/ada", host.url);
    let requests = (0..200).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let response = http().get(url).send().await.expect("GET");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.expect("JSON");
            (status, body)
        })
    });
    let replies = futures::future::join_all(requests).await;

    let first = &replies[0].as_ref().expect("task").1;
    for reply in &replies {
        let (status, body) = reply.as_ref().expect("task");
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body, first, "everyone gets the one computed value");
    }
    assert_eq!(
        services.simulator.requests().await - before,
        1,
        "exactly one upstream call"
    );
    let stats = host.get("/cache-stats").await.json();
    assert!(
        stats["flow"]["coalesced_waits"].as_u64().unwrap_or(0) >= 1,
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_value_is_served_stale_when_recomputation_fails() {
    let services = Services::start(Backend::Bare).await;
    let manifest = include_str!("../../host/src/config/default-manifest.toml").replace(
        "[cache.families.market]\nttl_seconds = 60",
        "[cache.families.market]\nttl_seconds = 1",
    );
    let path = services.dir.path().join("short-ttl.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    let host = services.host_with(&[("STRATA_MANIFEST", path.to_str().expect("utf-8 path"))]);

    let fresh = host.get("/api/market/btc").await;
    assert_eq!(fresh.cache(), "miss");
    services
        .simulator
        .set_faults(json!({ "fail_next": 1000 }))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let stale = host.get("/api/market/btc").await;
    assert_eq!(stale.status, 200, "{}", stale.body);
    assert_eq!(stale.cache(), "stale");
    assert_eq!(stale.json(), fresh.json());

    let fresh_only = host.get("/api/market/eth").await;
    assert_eq!(
        fresh_only.status, 502,
        "nothing stale to fall back on: {}",
        fresh_only.body
    );
    let stats = host.get("/cache-stats").await.json();
    assert!(stats["flow"]["stale_serves"].as_u64().unwrap_or(0) >= 1);
}

/// Sends requests over a spread of keys until `stop`, returning the
/// statuses that were not 200.
async fn load(url: String, until: Instant) -> Vec<String> {
    let symbols = ["btc", "eth", "sol", "ada", "xrp", "doge", "dot", "ltc"];
    let mut failures = Vec::new();
    let mut i = 0usize;
    while Instant::now() < until {
        let symbol = symbols[i % symbols.len()];
        i += 1;
        match http()
            .get(format!("{url}/api/market/{symbol}"))
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => failures.push(format!("{symbol}: HTTP {}", response.status())),
            Err(e) => failures.push(format!("{symbol}: {e}")),
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dying_mid_load_fails_no_request_and_l2_resumes_after_restart() {
    let mut services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    let port = services.redis.as_ref().expect("redis").port;

    let until = Instant::now() + Duration::from_secs(3);
    let workers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(load(host.url.clone(), until)))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    services.redis = None; // kills the server mid-load
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await.expect("load task"));
    }
    assert!(
        failures.is_empty(),
        "requests failed while Redis died: {failures:?}"
    );
    let health = host.get("/health").await.json();
    assert_eq!(health["status"], "degraded");

    // Redis returns (empty, as after a crash). L2 writes must resume by
    // themselves within 5 s.
    let redis = Redis::start_on(port).expect("redis back on its port");
    let mut conn = redis.connection();
    let restarted = Instant::now();
    let mut n = 0;
    let resumed = loop {
        n += 1;
        let symbol = format!("c{:04}", 16 + n);
        assert_eq!(host.get(&format!("/api/market/{symbol}")).await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stored: bool = conn
            .exists(crate::support::l2_key(&format!("market:{symbol}")))
            .expect("EXISTS");
        if stored {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "L2 did not come back within 5 s"
        );
    };
    println!("L2 writes resumed {resumed:?} after Redis restarted");

    let second = services.host_with(&[("REDIS_URL", &redis.url())]);
    let symbol = format!("c{:04}", 16 + n);
    assert_eq!(
        second.get(&format!("/api/market/{symbol}")).await.cache(),
        "hit-l2"
    );
    assert_eq!(host.get("/health").await.json()["status"], "healthy");
}
