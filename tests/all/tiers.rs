//! The two cache tiers seen from outside: write-through into Redis, and an
//! L2 value promoted into a fresh instance's L1.

use std::time::{Duration, Instant};

use crate::support::{Backend, Services, l2_key};
use redis::Commands;

/// Background L2 writes land shortly after the response; poll for them.
fn wait_for_key(conn: &mut redis::Connection, key: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ttl: i64 = conn.ttl(key).expect("TTL");
        if ttl > 0 || Instant::now() > deadline {
            return ttl;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_computed_value_is_written_through_to_redis_with_its_family_ttl() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    let reply = host.get("/api/market/SOL").await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let mut conn = services.redis.as_ref().expect("redis").connection();
    let ttl = wait_for_key(&mut conn, &l2_key("market:sol"));
    assert!(
        (1..=60).contains(&ttl),
        "market family TTL is 60 s, got {ttl}"
    );
    let stored: String = conn.get(l2_key("market:sol")).expect("value in L2");
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("JSON in L2");
    assert_eq!(stored, reply.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_value_is_promoted_into_an_empty_l1() {
    let services = Services::start(Backend::RedisPostgres).await;
    let first_host = services.host();
    let computed = first_host.get("/api/crypto/dashboard-summary").await;
    assert_eq!(computed.cache(), "miss");
    let mut conn = services.redis.as_ref().expect("redis").connection();
    assert!(wait_for_key(&mut conn, &l2_key("dashboard:summary")) > 0);
    let upstream_calls = services.simulator.requests().await;

    // A second instance starts with an empty L1 and the same Redis.
    let second_host = services.host();
    let from_l2 = second_host.get("/api/crypto/dashboard-summary").await;
    assert_eq!(from_l2.cache(), "hit-l2");
    assert_eq!(from_l2.json(), computed.json());
    let promoted = second_host.get("/api/crypto/dashboard-summary").await;
    assert_eq!(promoted.cache(), "hit-l1", "the L2 hit was promoted");
    assert_eq!(services.simulator.requests().await, upstream_calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_stay_in_l1_and_never_reach_redis() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    assert_eq!(host.get("/reports/2").await.status, 200);
    assert_eq!(host.get("/api/market/eth").await.status, 200);
    let mut conn = services.redis.as_ref().expect("redis").connection();
    assert!(
        wait_for_key(&mut conn, &l2_key("market:eth")) > 0,
        "L2 writes happen"
    );
    let report_keys: Vec<String> = conn
        .keys(l2_key("report:*"))
        .expect("KEYS in a test is fine");
    assert!(
        report_keys.is_empty(),
        "report family is L1-only: {report_keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_degrades_health_but_requests_still_succeed() {
    let mut services = Services::start(Backend::RedisPostgres).await;
    // Point the host at a port where nothing listens.
    let dead = crate::support::redis();
    let dead_url = dead.url();
    drop(dead);
    services.redis = None;
    let mut command = crate::support::Host::command();
    command
        .env("STRATA_UPSTREAM_URL", &services.simulator.url)
        .env("REDIS_URL", dead_url)
        .env("STRATA_SQLITE_PATH", services.dir.path().join("strata.db"));
    let host = crate::support::Host::spawn(command, services.dir.path());

    let first = host.get("/api/market/btc").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = host.get("/api/market/btc").await;
    assert_eq!(second.cache(), "hit-l1");
    let health = host.get("/health").await.json();
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["cache_system"]["l2_healthy"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_on_one_instance_is_not_served_from_another_instances_l1() {
    let services = Services::start(Backend::RedisPostgres).await;
    let a = services.host();
    let b = services.host();
    for host in [&a, &b] {
        host.get("/api/market/btc").await;
        host.get("/api/market/eth").await;
    }
    assert_eq!(b.get("/api/market/btc").await.cache(), "hit-l1");

    let cleared = a.admin_post("/clear-cache?pattern=market:b*").await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    let body = cleared.json();
    assert_eq!(body["pattern"], "market:b*");
    assert_eq!(body["cleared"]["l1"], 1);
    assert_eq!(body["cleared"]["l2"], 1);

    // Right after A's clear returns, B must not serve its own copy.
    let after = b.get("/api/market/btc").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.cache(), "miss", "B recomputes what A cleared");
    assert_eq!(
        b.get("/api/market/eth").await.cache(),
        "hit-l1",
        "keys outside the pattern stay"
    );
}

/// JSON whitespace in front of a cached value: the SDK's writer tag.
fn tag_of(stored: &[u8]) -> &[u8] {
    let len = stored
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count();
    &stored[..len]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_summary_carries_its_writers_tag_and_clients_never_see_it() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    let computed = host.get("/api/crypto/dashboard-summary").await;
    assert_eq!(computed.cache(), "miss");
    let mut conn = services.redis.as_ref().expect("redis").connection();
    assert!(wait_for_key(&mut conn, &l2_key("dashboard:summary")) > 0);
    let stored: Vec<u8> = conn.get(l2_key("dashboard:summary")).expect("value");
    assert_eq!(tag_of(&stored).len(), 32, "tagged by its writer");
    let value: serde_json::Value =
        serde_json::from_slice(&stored).expect("still one JSON document");
    assert_eq!(value, computed.json());

    let hit = host.get("/api/crypto/dashboard-summary").await;
    let from_l2 = services.host().get("/api/crypto/dashboard-summary").await;
    for (reply, outcome) in [(&computed, "miss"), (&hit, "hit-l1"), (&from_l2, "hit-l2")] {
        assert_eq!(reply.cache(), outcome);
        assert!(
            reply.body.starts_with('{'),
            "{outcome}: {:?}",
            &reply.body[..8]
        );
    }

    // The scheduler's refresh writes the same way.
    let _: () = conn.del(l2_key("dashboard:summary")).expect("DEL");
    let refreshed = host
        .admin("GET", "/api/crypto/dashboard-summary/refresh")
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert!(refreshed.body.starts_with('{'));
    assert!(wait_for_key(&mut conn, &l2_key("dashboard:summary")) > 0);
    let stored: Vec<u8> = conn.get(l2_key("dashboard:summary")).expect("value");
    assert_eq!(tag_of(&stored).len(), 32, "the refresh tags its value too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_tagged_by_another_writer_is_checked_before_it_is_served() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    let mut conn = services.redis.as_ref().expect("redis").connection();
    // A tag this version would never write, in front of JSON that is not a
    // summary: trusting it unchecked would serve it.
    let forged = [b" \t\n\r".repeat(8), br#"{"not":"a summary"}"#.to_vec()].concat();
    let _: () = conn
        .set_ex(l2_key("dashboard:summary"), forged, 60)
        .expect("SET");
    let reply = host.get("/api/crypto/dashboard-summary").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.cache(), "miss", "recomputed, not served");
    assert!(reply.json()["top_coins"].is_array(), "{}", reply.body);
}
