//! Operator endpoints: cache statistics, clearing, and admin authentication.

use crate::support::{Backend, Host, Services, http};

fn host_with_token(services: &Services, token: &str) -> Host {
    let mut command = Host::command();
    command
        .env("STRATA_UPSTREAM_URL", &services.simulator.url)
        .env("STRATA_SQLITE_PATH", services.dir.path().join("strata.db"))
        .env("STRATA_ADMIN_TOKEN", token);
    Host::spawn(command, services.dir.path())
}

async fn post(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = http().post(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_admin_endpoints_live_only_on_the_loopback_admin_listener() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let on_public = host.request("POST", "/clear-cache").await;
    assert_eq!(on_public.status, 404, "not exposed on the public listener");

    let on_admin = host.admin_post("/clear-cache").await;
    assert_eq!(on_admin.status, 200, "{}", on_admin.body);
    assert_eq!(on_admin.json()["success"], true);

    let admin = host.admin_url.as_deref().expect("admin listener");
    let components = http()
        .get(format!("{admin}/api/market/btc"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        components.status().as_u16(),
        404,
        "no component routes on the admin listener"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_admin_endpoints_require_it() {
    let services = Services::start(Backend::Bare).await;
    let host = host_with_token(&services, "correct-horse");
    assert!(host.admin_url.is_none(), "no separate admin listener");
    let url = format!("{}/clear-cache", host.url);

    let (status, body) = post(&url, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
    let (status, _) = post(&url, Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, body) = post(&url, Some("correct-horse")).await;
    assert_eq!(status, 200, "{body}");

    let log = std::fs::read_to_string(&host.log).expect("host log");
    assert!(log.contains("admin request refused"));
    assert!(!log.contains("wrong"), "refused tokens are never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_cache_reports_counts_per_tier_and_empties_l1() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    host.get("/api/market/btc").await;
    host.get("/api/market/eth").await;
    host.get("/api/crypto/dashboard-summary").await;
    let mut conn = services.redis.as_ref().expect("redis").connection();
    for _ in 0..500 {
        let n: usize = redis::cmd("DBSIZE").query(&mut conn).expect("DBSIZE");
        if n >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let reply = host.admin_post("/clear-cache?pattern=market:*").await;
    let body = reply.json();
    assert_eq!(body["cleared"]["l1"], 2, "{body}");
    // A whole family moves to its next generation: nothing is removed
    // from Redis, the old keys are unreachable (and expire by TTL).
    assert_eq!(body["cleared"]["generation"], 1, "{body}");
    assert_eq!(body["cleared"]["l2"], 0, "{body}");
    assert!(body["timestamp"].is_string());
    assert_eq!(host.get("/api/market/btc").await.cache(), "miss");
    assert_eq!(
        host.get("/api/crypto/dashboard-summary").await.cache(),
        "hit-l1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_clear_pattern_is_a_400_json_error() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let reply = host.admin_post("/clear-cache?pattern=a%20b").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_stats_count_hits_misses_and_report_cache_entries() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    host.get("/api/market/btc").await;
    host.get("/api/market/btc").await;
    host.get("/api/market/btc").await;

    let stats = host.get("/cache-stats").await.json();
    let l1 = &stats["l1_cache"];
    assert!(l1["hit_count"].as_u64().unwrap_or(0) >= 2, "{stats}");
    assert!(l1["entry_count"].as_u64().unwrap_or(0) >= 2, "{stats}");
    assert!(l1["weighted_size_bytes"].as_u64().unwrap_or(0) > 0);
    assert_eq!(stats["l2_cache"]["configured"], false);
    assert_eq!(
        stats["report_cache"]["latest_report_id"], 4,
        "primed at start"
    );
    assert!(stats["report_cache"]["entry_count"].as_u64().unwrap_or(0) >= 2);
    assert!(stats["flow"]["computes"].as_u64().unwrap_or(0) >= 1);
}
