//! Batch cache-or-compute seen from a client: `/api/market?symbols=...`
//! looks every quote up in one batch, and the misses cost one upstream
//! call together (issue #18, item 1).

use std::time::{Duration, Instant};

use futures::future::join_all;
use redis::Commands;

use crate::support::{Backend, Host, Services, l2_key};

/// Leases the host has handed out since it started.
async fn computes(host: &Host) -> u64 {
    let stats = host.get("/cache-stats").await.json();
    stats["flow"]["computes"].as_u64().expect("computes")
}

fn symbols_of(reply: &crate::support::Reply) -> Vec<String> {
    reply.json()["quotes"]
        .as_array()
        .expect("quotes")
        .iter()
        .map(|quote| quote["symbol"].as_str().expect("symbol").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_missing_quotes_cost_one_quote_call_then_are_hits() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    let before = services.simulator.requests().await;
    let first = host.get("/api/market?symbols=btc,ETH,sol").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.cache(), "miss");
    assert_eq!(
        symbols_of(&first),
        ["btc", "eth", "sol"],
        "in the order asked"
    );
    // One call for the three quotes, one for the symbol list (cached for
    // its family's TTL) that tells unknown symbols apart.
    assert_eq!(services.simulator.requests().await, before + 2);

    let again = host.get("/api/market?symbols=btc,eth,sol").await;
    assert_eq!(again.cache(), "hit-l1", "{}", again.body);
    assert_eq!(again.json(), first.json());
    let single = host.get("/api/market/eth").await;
    assert_eq!(
        single.cache(),
        "hit-l1",
        "the batch filled the quote's own key"
    );
    assert_eq!(services.simulator.requests().await, before + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_computes_only_what_no_tier_holds() {
    let services = Services::start(Backend::RedisPostgres).await;
    let first_host = services.host();
    assert_eq!(
        first_host.get("/api/market?symbols=btc,eth").await.status,
        200
    );
    // The first host writes both keys to Redis in the background.
    let mut redis = services.redis.as_ref().expect("redis").connection();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !["market:btc", "market:eth"]
        .iter()
        .all(|key| redis.exists::<_, bool>(l2_key(key)).unwrap_or(false))
    {
        assert!(Instant::now() < deadline, "the batch reached Redis");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second_host = services.host();
    let leased = computes(&second_host).await;
    let before = services.simulator.requests().await;
    let mixed = second_host.get("/api/market?symbols=eth,btc,sol").await;
    assert_eq!(mixed.status, 200, "{}", mixed.body);
    assert_eq!(symbols_of(&mixed), ["eth", "btc", "sol"]);
    assert_eq!(mixed.cache(), "miss", "sol was computed");
    assert_eq!(services.simulator.requests().await, before + 1);
    assert_eq!(
        computes(&second_host).await,
        leased + 1,
        "only sol was leased"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_batches_compute_each_quote_once() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let before = computes(&host).await;
    let coins = ["btc", "eth", "sol", "ada", "xrp", "doge", "dot", "ltc"];
    let paths: Vec<String> = (0..6)
        .map(|start| {
            let mut window: Vec<&str> = coins[start..start + 3].to_vec();
            if start % 2 == 1 {
                window.reverse();
            }
            format!("/api/market?symbols={}", window.join(","))
        })
        .collect();
    for reply in join_all(paths.iter().map(|path| host.get(path))).await {
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["quotes"].as_array().map(Vec::len), Some(3));
    }
    assert_eq!(
        computes(&host).await,
        before + coins.len() as u64 + 1,
        "one lease per quote, and one for the symbol list"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_symbols_are_listed_apart() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let reply = host.get("/api/market?symbols=btc,nosuchcoin").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(symbols_of(&reply), ["btc"]);
    assert_eq!(reply.json()["unknown"], serde_json::json!(["nosuchcoin"]));
    // The symbol list answers for unknown symbols from now on.
    let calls = services.simulator.requests().await;
    let again = host.get("/api/market?symbols=nosuchcoin,zz1,zz2").await;
    assert_eq!(
        again.json()["unknown"],
        serde_json::json!(["nosuchcoin", "zz1", "zz2"])
    );
    assert_eq!(
        services.simulator.requests().await,
        calls,
        "no upstream call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_symbol_list_is_a_clear_400() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let too_many: Vec<String> = (0..51).map(|n| format!("c{n}")).collect();
    for query in [
        String::new(),
        "?symbols=".into(),
        "?symbols=btc,a%20b".into(),
        format!("?symbols={}", too_many.join(",")),
    ] {
        let reply = host.get(&format!("/api/market{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{}", reply.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_a_batch_is_shared_through_l2() {
    let services = Services::start(Backend::ClusterPostgres).await;
    let cluster = services.cluster.as_ref().expect("a Redis Cluster");
    let path = "/api/market?symbols=btc,eth,sol,ada,xrp,doge";
    let first = services.host().get(path).await;
    assert_eq!(first.status, 200, "{}", first.body);
    // The six keys hash to slots on every primary; the batch's write must
    // reach all of them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.keys("market:*").len() < 6 {
        assert!(Instant::now() < deadline, "{:?}", cluster.keys("market:*"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = services.simulator.requests().await;
    let second = services.host().get(path).await;
    assert_eq!(second.cache(), "hit-l2", "{}", second.body);
    assert_eq!(second.json(), first.json());
    assert_eq!(services.simulator.requests().await, before);
}
