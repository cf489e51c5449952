//! Warm start seen from outside (issue #18, item 5): an instance records
//! its hot keys in Redis, and a new instance loads them into L1 before it
//! listens, so its first requests for them are L1 hits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::Commands;

use crate::support::{Backend, Services, http};

/// Record often, so the test need not wait the default 30 s.
const RECORD_EVERY: (&str, &str) = ("STRATA_CACHE_HOT_KEYS_RECORD_SECONDS", "1");

const HOT: [&str; 2] = ["/api/market/btc", "/api/market/eth"];

/// Keeps asking `url` for the hot paths until stopped, as a load balancer's
/// traffic would, so the first instance keeps them on its record.
fn keep_hot(url: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            for path in HOT {
                let _ = http().get(format!("{url}{path}")).send().await;
            }
        }
    })
}

/// Whether the deployment's hot-key record lists `key`.
fn recorded(redis: &mut redis::Connection, key: &str) -> bool {
    let records: Vec<String> = redis
        .scan_match("strata:host:cache:hot:*")
        .map(|iter| iter.filter_map(Result::ok).collect())
        .unwrap_or_default();
    records.iter().any(|record| {
        redis
            .zscore::<_, _, Option<f64>>(record, key)
            .ok()
            .flatten()
            .is_some()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_instance_serves_the_previous_hot_set_from_l1() {
    let services = Services::start(Backend::RedisPostgres).await;
    let first = services.host_with(&[RECORD_EVERY]);
    for path in HOT {
        assert_eq!(first.get(path).await.status, 200, "{path}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = keep_hot(first.url.clone(), stop.clone());
    let mut redis = services.redis.as_ref().expect("redis").connection();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !["market:btc", "market:eth"]
        .iter()
        .all(|key| recorded(&mut redis, key))
    {
        assert!(Instant::now() < deadline, "the hot keys were recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let second = services.host_with(&[RECORD_EVERY]);
    for path in HOT {
        let reply = second.get(path).await;
        assert_eq!(
            reply.cache(),
            "hit-l1",
            "{path} was loaded before the first request"
        );
    }
    let cold = second.get("/api/market/sol").await;
    assert_ne!(
        cold.cache(),
        "hit-l1",
        "a key nobody asked for is not loaded"
    );
    stop.store(true, Ordering::Relaxed);
    traffic.await.expect("traffic task");
    let stats = second.get("/cache-stats").await.json();
    assert!(stats["flow"]["warmed_keys"].as_u64() >= Some(2), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_record_an_instance_starts_cold_and_serves() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host_with(&[RECORD_EVERY]);
    let reply = host.get("/api/market/btc").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.cache(), "miss");
    let stats = host.get("/cache-stats").await.json();
    assert_eq!(stats["flow"]["warmed_keys"], 0, "{stats}");
}
