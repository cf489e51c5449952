//! A hostile component against the cache, and the installation's Redis
//! namespace: keys and patterns outside the grant, glob and hash-tag
//! characters, TTLs meant to outlive everything, clears that would reach
//! other applications' keys or the host's own lock.

use redis::Commands;
use serde_json::json;

use crate::security::hostile::{self, probe, refused};
use crate::support::{Backend, Services, l2_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_patterns_outside_the_grant_are_refused() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host(&services, hostile::OWN_CORNER, &[]);
    for key in [
        "market:btc",
        "report:latest-id",
        "hostile",
        "hostilex:1",
        "dashboard:summary",
    ] {
        let report = probe(&host, "cache-get", json!({ "key": key }).to_string()).await;
        refused(&report, "denied", key);
        let report = probe(
            &host,
            "cache-set",
            json!({ "key": key, "value": "x" }).to_string(),
        )
        .await;
        refused(&report, "denied", key);
    }
    for pattern in ["*", "h*", "hostile*", "?ostile:*", "market:*"] {
        let report = probe(
            &host,
            "cache-clear",
            json!({ "pattern": pattern }).to_string(),
        )
        .await;
        refused(&report, "denied", pattern);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_would_escape_into_redis_syntax_are_invalid() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host(&services, hostile::OWN_CORNER, &[]);
    let long = format!("hostile:{}", "x".repeat(300));
    for key in [
        "hostile:*",
        "hostile:?",
        "hostile:[a-z]",
        "hostile:{tag}",
        "hostile:a b",
        "hostile:\nDEL x",
        "hostile:\\",
        "",
        long.as_str(),
    ] {
        let report = probe(
            &host,
            "cache-set",
            json!({ "key": key, "value": "x" }).to_string(),
        )
        .await;
        refused(&report, "invalid-key", key);
    }
    for pattern in ["hostile:[a-z]*", "hostile:{x}*", "hostile:\\*"] {
        let report = probe(
            &host,
            "cache-clear",
            json!({ "pattern": pattern }).to_string(),
        )
        .await;
        refused(&report, "invalid-key", pattern);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_beyond_the_family_cap_is_refused() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host(
        &services,
        hostile::OWN_CORNER,
        &[("STRATA_CACHE_MAX_TTL_SECONDS", "3600")],
    );
    for ttl in [3601u64, 86_400 * 365, u64::from(u32::MAX)] {
        let report = probe(
            &host,
            "cache-set",
            json!({ "key": "hostile:forever", "value": "x", "ttl": ttl }).to_string(),
        )
        .await;
        let message = refused(&report, "denied", &format!("ttl {ttl}"));
        assert!(message.contains("3600"), "{message}");
    }
    let stored = probe(
        &host,
        "cache-get",
        json!({ "key": "hostile:forever" }).to_string(),
    )
    .await;
    assert_eq!(
        stored["value"],
        serde_json::Value::Null,
        "nothing was stored"
    );
    let within = probe(
        &host,
        "cache-set",
        json!({ "key": "hostile:forever", "value": "x", "ttl": 3600 }).to_string(),
    )
    .await;
    assert_eq!(within["outcome"], "ok", "{within}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_clear_never_reaches_keys_outside_the_installation() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    let mut conn = services.redis.as_ref().expect("redis").connection();
    let _: () = conn.set("other-app:session:1", "theirs").expect("SET");
    let _: () = conn.set("market:btc", "not ours either").expect("SET");
    let _: () = conn
        .set("strata:host:lock:dashboard-refresh", "held")
        .expect("SET");
    host.get("/api/market/btc").await;
    let ours = l2_key("market:btc");
    for _ in 0..500 {
        if conn.exists::<_, bool>(&ours).expect("EXISTS") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        conn.exists::<_, bool>(&ours).expect("EXISTS"),
        "written through"
    );

    let cleared = host.admin_post("/clear-cache").await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert!(
        !conn.exists::<_, bool>(&ours).expect("EXISTS"),
        "our key is gone"
    );
    for foreign in [
        "other-app:session:1",
        "market:btc",
        "strata:host:lock:dashboard-refresh",
    ] {
        assert!(
            conn.exists::<_, bool>(foreign).expect("EXISTS"),
            "{foreign} was cleared"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_installations_on_one_redis_keep_apart() {
    let services = Services::start(Backend::RedisPostgres).await;
    let shop = services.host_with(&[("STRATA_REDIS_NAMESPACE", "shop")]);
    shop.get("/api/market/eth").await;
    let mut conn = services.redis.as_ref().expect("redis").connection();
    for _ in 0..500 {
        if conn
            .exists::<_, bool>("shop:cache:market:eth")
            .expect("EXISTS")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        conn.exists::<_, bool>("shop:cache:market:eth")
            .expect("EXISTS")
    );
    let default = services.host();
    let cleared = default.admin_post("/clear-cache").await;
    assert_eq!(cleared.status, 200);
    assert!(
        conn.exists::<_, bool>("shop:cache:market:eth")
            .expect("EXISTS"),
        "the other installation's cache survives"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_key_cannot_take_the_hosts_refresh_lock() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = hostile::host(
        &services,
        r#"
cache_prefixes = ["strata:", "lock:", "host:"]
sql = "read-only"
outbound = ["http://127.0.0.1:9"]
"#,
        &[],
    );
    let spellings = [
        "strata:lock:dashboard-refresh",
        "strata:host:lock:dashboard-refresh",
        "lock:dashboard-refresh",
        "host:lock:dashboard-refresh",
    ];
    for key in spellings {
        let report = probe(
            &host,
            "cache-set",
            json!({ "key": key, "value": "stolen" }).to_string(),
        )
        .await;
        assert_eq!(report["outcome"], "ok", "{report}");
    }
    let mut conn = services.redis.as_ref().expect("redis").connection();
    std::thread::sleep(std::time::Duration::from_millis(300));
    for host_key in [
        "strata:host:lock:dashboard-refresh",
        "strata:lock:dashboard-refresh",
    ] {
        let lock: Option<String> = conn.get(host_key).expect("GET");
        assert_eq!(lock, None, "a component value landed on {host_key}");
    }
}
