//! Unknown symbols do not spend the upstream's quota: the market component
//! answers them from the upstream's cached symbol list, and the 404 is
//! remembered (negative caching) in both tiers for the family's negative
//! TTL, so neither a repeat nor a flood of made-up symbols reaches the
//! upstream.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::support::{Backend, Host, Services, l2_key};

/// Asks for `symbols` on `/api/market/`, `parallel` at a time, and returns
/// every (status, cache header) seen.
async fn ask(host: &Host, symbols: Vec<String>, parallel: usize) -> Vec<(u16, String)> {
    futures::stream::iter(symbols)
        .map(|symbol| async move {
            let reply = host.get(&format!("/api/market/{symbol}")).await;
            (reply.status, reply.cache().to_string())
        })
        .buffer_unordered(parallel)
        .collect()
        .await
}

fn made_up(count: usize, tag: &str) -> Vec<String> {
    (0..count).map(|i| format!("zz{tag}{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_unknown_symbols_cost_one_upstream_call() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let answers = ask(&host, made_up(10_000, "a"), 32).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 404),
        "every made-up symbol is unknown: {:?}",
        answers.iter().find(|(status, _)| *status != 404)
    );
    assert_eq!(
        services.simulator.requests().await,
        1,
        "one call for the symbol list, none per symbol"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_unknown_symbol_is_a_negative_hit_with_the_same_answer() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let first = host.get("/api/market/nosuchcoin").await;
    assert_eq!(first.status, 404, "{}", first.body);
    assert_eq!(first.cache(), "miss");
    let calls = services.simulator.requests().await;

    let again = host.get("/api/market/nosuchcoin").await;
    assert_eq!(again.status, 404);
    assert_eq!(again.cache(), "hit-negative");
    assert_eq!(again.json(), first.json(), "the same error body");
    let indicator = host.get("/api/indicators/nosuchcoin/sma/5").await;
    assert_eq!(indicator.status, 404, "{}", indicator.body);
    assert_eq!(services.simulator.requests().await, calls);

    let stats = host.get("/cache-stats").await.json();
    assert!(stats["flow"]["negative_hits"].as_u64().unwrap_or(0) >= 2);
    let metrics = host.get("/metrics").await.body;
    assert!(
        metrics.lines().any(|l| l
            .starts_with("strata_cache_negative_hits_total{family=\"market\"} ")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_symbols_are_still_fetched_and_cached() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let first = host.get("/api/market/btc").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.cache(), "miss");
    assert_eq!(
        services.simulator.requests().await,
        2,
        "the symbol list, then the quote"
    );
    let eth = host.get("/api/market/eth").await;
    assert_eq!(eth.status, 200, "{}", eth.body);
    assert_eq!(services.simulator.requests().await, 3, "the list is cached");
    assert_eq!(host.get("/api/market/btc").await.cache(), "hit-l1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_unknown_symbol_is_asked_again_after_its_negative_ttl() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_CACHE_NEGATIVE_TTL_SECONDS", "1")]);
    assert_eq!(host.get("/api/market/nosuchcoin").await.cache(), "miss");
    assert_eq!(
        host.get("/api/market/nosuchcoin").await.cache(),
        "hit-negative"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let later = host.get("/api/market/nosuchcoin").await;
    assert_eq!(later.status, 404);
    assert_eq!(later.cache(), "miss", "the failure was forgotten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_outage_is_not_remembered_as_an_unknown_symbol() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_OUTBOUND_RETRIES", "0")]);
    assert_eq!(host.get("/api/market/btc").await.status, 200);
    services
        .simulator
        .set_faults(serde_json::json!({ "fail_next": 1 }))
        .await;
    let failed = host.get("/api/market/eth").await;
    assert_eq!(failed.status, 502, "{}", failed.body);
    let recovered = host.get("/api/market/eth").await;
    assert_eq!(recovered.status, 200, "{}", recovered.body);
    assert_eq!(recovered.cache(), "miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_gets_the_remembered_failure_from_redis() {
    let services = Services::start(Backend::RedisPostgres).await;
    let first = services.host();
    let second = services.host();
    assert_eq!(first.get("/api/market/nosuchcoin").await.status, 404);
    let calls = services.simulator.requests().await;

    // The L2 write is in the background; wait until Redis holds it.
    let mut redis = services.redis.as_ref().expect("redis").connection();
    let key = l2_key("market:nosuchcoin");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !redis::cmd("EXISTS")
        .arg(&key)
        .query::<bool>(&mut redis)
        .expect("EXISTS")
    {
        assert!(Instant::now() < deadline, "{key} never reached Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let seen = second.get("/api/market/nosuchcoin").await;
    assert_eq!(seen.status, 404, "{}", seen.body);
    assert_eq!(seen.cache(), "hit-negative");
    assert_eq!(
        services.simulator.requests().await,
        calls,
        "the second instance asked nobody"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symbol_list_outage_costs_one_attempt_not_one_per_request() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_OUTBOUND_RETRIES", "0")]);
    services
        .simulator
        .set_faults(serde_json::json!({ "fail_next": 1 }))
        .await;
    for symbol in ["btc", "eth", "sol"] {
        let reply = host.get(&format!("/api/market/{symbol}")).await;
        assert_eq!(
            reply.status, 200,
            "{symbol} is asked for as before: {}",
            reply.body
        );
    }
    assert_eq!(
        services.simulator.requests().await,
        4,
        "the failed list attempt and three quotes; the list is not asked again"
    );
}
