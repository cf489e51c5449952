//! The endpoints of the system Strata replaces (issue #21), which its
//! clients still call: `GET /admin/cache/stats`, `/admin/cache/clear` and
//! `GET /api/crypto/dashboard-summary/cached`.
//!
//! The seed's clear was a `GET`, which a link prefetcher or another site's
//! page can trigger without anyone meaning to: here `POST` clears, and the
//! `GET` form clears only for a caller holding the bearer token (a browser
//! never sends one on its own). The cache-only summary read must never
//! spend an upstream call, whatever is cached.

use std::time::{Duration, Instant};

use crate::support::{Backend, Host, Services, http, l2_key};
use reqwest::header::HeaderMap;
use serde_json::Value;

const TOKEN: &str = "correct-horse";
const CACHED: &str = "/api/crypto/dashboard-summary/cached";
const SUMMARY: &str = "/api/crypto/dashboard-summary";

/// Spellings of the compat admin paths; each names its endpoint (segments
/// are matched with empty ones dropped, as for every host endpoint).
const ADMIN_SPELLINGS: &[(&str, &str)] = &[
    ("GET", "/admin/cache/stats"),
    ("GET", "/admin/cache/stats/"),
    ("GET", "//admin//cache/stats"),
    ("POST", "/admin/cache/clear"),
    ("POST", "/admin/cache/clear/"),
    ("POST", "//admin/cache//clear//"),
    ("POST", "/admin/cache/clear?pattern=*"),
    ("GET", "/admin/cache/clear"),
    ("GET", "/admin/cache/clear/"),
    ("GET", "///admin/cache/clear"),
    ("GET", "/admin/cache/clear?pattern=market:*"),
];

/// Spellings of the GET clear; none may clear without a token.
const GET_CLEAR_SPELLINGS: &[&str] = &[
    "/admin/cache/clear",
    "/admin/cache/clear/",
    "//admin/cache/clear",
    "/admin//cache/clear//",
    "/admin/cache/clear?pattern=*",
];

/// A response, fully read.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `method url` with an optional bearer token and extra headers.
async fn send(method: &str, url: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    Answer {
        status,
        headers,
        body,
    }
}

fn admin_url(host: &Host) -> String {
    host.admin_url.clone().expect("host has an admin listener")
}

/// Fills L1 and confirms it is a hit, so a test can see whether a clear
/// slipped through.
async fn cache_something(host: &Host) {
    host.get("/api/market/btc").await;
    assert_eq!(host.get("/api/market/btc").await.cache(), "hit-l1");
}

async fn still_cached(host: &Host, what: &str) {
    assert_eq!(
        host.get("/api/market/btc").await.cache(),
        "hit-l1",
        "nothing was cleared by {what}"
    );
}

/// Waits for the background L2 write of `key`.
fn wait_for_l2(conn: &mut redis::Connection, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exists: bool = redis::cmd("EXISTS").arg(key).query(conn).expect("EXISTS");
        if exists {
            return;
        }
        assert!(Instant::now() < deadline, "{key} never reached Redis");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cache_stats_answer_the_cache_stats_body() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    cache_something(&host).await;
    let admin = admin_url(&host);
    let compat = send("GET", &format!("{admin}/admin/cache/stats"), None, &[]).await;
    assert_eq!(compat.status, 200, "{}", compat.body);
    let plain = host.get("/cache-stats").await.json();
    let compat = compat.json();
    assert_eq!(keys_of(&compat), keys_of(&plain));
    for section in ["l1_cache", "l2_cache", "report_cache", "flow"] {
        assert_eq!(
            keys_of(&compat[section]),
            keys_of(&plain[section]),
            "{section}"
        );
    }
    assert_eq!(compat["cache_system"], plain["cache_system"]);
    assert!(compat["l1_cache"]["hit_count"].as_u64().unwrap_or(0) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_compat_admin_paths_are_absent_from_the_public_listener() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    cache_something(&host).await;
    for (method, path) in ADMIN_SPELLINGS {
        let reply = send(method, &format!("{}{path}", host.url), None, &[]).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
    }
    still_cached(&host, "the public listener").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_spelling_of_the_compat_admin_paths_needs_it() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_ADMIN_TOKEN", TOKEN)]);
    cache_something(&host).await;
    for (method, path) in ADMIN_SPELLINGS {
        let url = format!("{}{path}", host.url);
        for token in [None, Some("wrong"), Some("")] {
            let reply = send(method, &url, token, &[]).await;
            assert_eq!(
                reply.status, 401,
                "{method} {path} {token:?}: {}",
                reply.body
            );
            assert_eq!(reply.json()["code"], "unauthorized");
        }
    }
    still_cached(&host, "an unauthenticated request").await;
    let stats = send(
        "GET",
        &format!("{}/admin/cache/stats", host.url),
        Some(TOKEN),
        &[],
    )
    .await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    assert!(stats.json()["l1_cache"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_admin_cache_clear_empties_every_tier() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = services.host();
    host.get("/api/market/btc").await;
    host.get(SUMMARY).await;
    let mut conn = services.redis.as_ref().expect("redis").connection();
    wait_for_l2(&mut conn, &l2_key("market:btc"));
    wait_for_l2(&mut conn, &l2_key("dashboard:summary"));

    let reply = send(
        "POST",
        &format!("{}/admin/cache/clear", admin_url(&host)),
        None,
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["pattern"], "*");
    assert!(body["cleared"]["l1"].as_u64().unwrap_or(0) >= 2, "{body}");
    assert!(body["cleared"]["l2"].as_u64().unwrap_or(0) >= 2, "{body}");
    assert_eq!(host.get("/api/market/btc").await.cache(), "miss");
    assert_eq!(host.get(SUMMARY).await.cache(), "miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_admin_cache_clear_on_the_loopback_listener_is_405_and_clears_nothing() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    cache_something(&host).await;
    let admin = admin_url(&host);
    for path in GET_CLEAR_SPELLINGS {
        // A token means nothing here: the loopback listener has none to
        // check it against, so it cannot make the GET safe.
        for token in [None, Some(TOKEN)] {
            let reply = send("GET", &format!("{admin}{path}"), token, &[]).await;
            assert_eq!(reply.status, 405, "GET {path} {token:?}: {}", reply.body);
            assert_eq!(reply.header("allow"), Some("POST"), "GET {path}");
            let body = reply.json();
            assert_eq!(body["code"], "method_needs_token", "{body}");
            assert!(
                body["hint"]
                    .as_str()
                    .is_some_and(|hint| hint.contains("POST /admin/cache/clear")),
                "{body}"
            );
            assert!(body["request_id"].is_string(), "{body}");
        }
    }
    still_cached(&host, "a GET on the loopback listener").await;
    let other = send("PUT", &format!("{admin}/admin/cache/clear"), None, &[]).await;
    assert_eq!(other.status, 405, "{}", other.body);
    assert_eq!(other.header("allow"), Some("POST"));
    still_cached(&host, "a PUT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_admin_cache_clear_with_the_token_clears_all_tiers() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_ADMIN_TOKEN", TOKEN)]);
    cache_something(&host).await;
    let url = format!("{}/admin/cache/clear", host.url);
    let reply = send("GET", &url, Some(TOKEN), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["pattern"], "*");
    assert!(body["cleared"]["l1"].as_u64().unwrap_or(0) >= 1, "{body}");
    assert_eq!(host.get("/api/market/btc").await.cache(), "miss");

    let allowed = send("PUT", &url, Some(TOKEN), &[]).await;
    assert_eq!(allowed.status, 405);
    let allow = allowed.header("allow").unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sites_page_cannot_clear_through_the_compat_path() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    cache_something(&host).await;
    let admin = admin_url(&host);
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        for method in ["POST", "GET"] {
            let reply = send(
                method,
                &format!("{admin}/admin/cache/clear"),
                None,
                &[(name, value)],
            )
            .await;
            assert_eq!(
                reply.status, 403,
                "{method} {name}: {value}: {}",
                reply.body
            );
        }
    }
    still_cached(&host, "a cross-site request to the loopback listener").await;

    let with_token = services.host_with(&[("STRATA_ADMIN_TOKEN", TOKEN)]);
    cache_something(&with_token).await;
    for method in ["POST", "GET"] {
        let reply = send(
            method,
            &format!("{}/admin/cache/clear", with_token.url),
            Some(TOKEN),
            &[("origin", "https://evil.example")],
        )
        .await;
        assert_eq!(reply.status, 403, "{method}: {}", reply.body);
    }
    still_cached(&with_token, "a cross-site request with the token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_summary_is_503_without_an_upstream_call_when_cold() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let before = services.simulator.requests().await;
    for path in [
        CACHED,
        "/api/crypto/dashboard-summary/cached/",
        "//api/crypto//dashboard-summary/cached",
    ] {
        let reply = host.get(path).await;
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        let retry = reply.header("retry-after").unwrap_or_default();
        assert!(
            retry.parse::<u64>().is_ok_and(|s| s >= 1),
            "Retry-After: {retry:?}"
        );
        let body = reply.json();
        assert_eq!(body["code"], "not_cached", "{body}");
        assert!(body["request_id"].is_string(), "{body}");
    }
    assert_eq!(
        services.simulator.requests().await,
        before,
        "no upstream call"
    );
    // Asking did not fill it either.
    assert_eq!(host.get(CACHED).await.status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_summary_serves_the_l1_copy_without_an_upstream_call() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let computed = host.get(SUMMARY).await;
    assert_eq!(computed.status, 200, "{}", computed.body);
    assert_eq!(computed.cache(), "miss");
    let before = services.simulator.requests().await;

    let cached = host.get(CACHED).await;
    assert_eq!(cached.status, 200, "{}", cached.body);
    assert_eq!(cached.cache(), "hit-l1");
    assert_eq!(cached.header("content-type"), Some("application/json"));
    assert_eq!(cached.json(), computed.json());
    assert_eq!(services.simulator.requests().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_summary_serves_the_l2_copy_on_a_fresh_instance() {
    let services = Services::start(Backend::RedisPostgres).await;
    let first = services.host();
    let computed = first.get(SUMMARY).await;
    assert_eq!(computed.status, 200, "{}", computed.body);
    let mut conn = services.redis.as_ref().expect("redis").connection();
    wait_for_l2(&mut conn, &l2_key("dashboard:summary"));
    let before = services.simulator.requests().await;

    let second = services.host();
    let from_l2 = second.get(CACHED).await;
    assert_eq!(from_l2.status, 200, "{}", from_l2.body);
    assert_eq!(from_l2.cache(), "hit-l2");
    assert_eq!(from_l2.json(), computed.json());
    assert_eq!(second.get(CACHED).await.cache(), "hit-l1", "promoted");
    assert_eq!(services.simulator.requests().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_summary_is_a_public_get_on_the_public_listener_only() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let before = services.simulator.requests().await;
    for method in ["POST", "PUT", "DELETE"] {
        let reply = host.request(method, CACHED).await;
        assert_eq!(reply.status, 405, "{method}: {}", reply.body);
        assert_eq!(reply.header("allow"), Some("GET"));
    }
    let on_admin = send("GET", &format!("{}{CACHED}", admin_url(&host)), None, &[]).await;
    assert_eq!(on_admin.status, 404, "{}", on_admin.body);
    assert_eq!(services.simulator.requests().await, before);

    let with_token = services.host_with(&[("STRATA_ADMIN_TOKEN", TOKEN)]);
    let reply = with_token.get(CACHED).await;
    assert_eq!(reply.status, 503, "public: no token needed: {}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_the_compat_endpoints_and_deprecates_the_get_clear() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let document = host.get("/openapi.json").await.json();
    let paths = &document["paths"];
    let stats = &paths["/admin/cache/stats"]["get"];
    assert!(stats.is_object(), "GET /admin/cache/stats");
    assert!(stats["security"].is_array(), "admin: {stats}");
    let get_clear = &paths["/admin/cache/clear"]["get"];
    assert_eq!(get_clear["deprecated"], true, "{get_clear}");
    assert!(get_clear["security"].is_array(), "{get_clear}");
    let post_clear = &paths["/admin/cache/clear"]["post"];
    assert!(post_clear["security"].is_array(), "{post_clear}");
    assert_ne!(post_clear["deprecated"], true, "{post_clear}");
    let cached = &paths[CACHED]["get"];
    assert!(cached.is_object(), "GET {CACHED}");
    assert!(cached.get("security").is_none(), "public: {cached}");
    assert!(cached["responses"]["503"].is_object(), "{cached}");
}

#[test]
fn the_readme_lists_the_compat_endpoints_under_their_seed_names() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    for line in [
        "`GET /admin/cache/stats`",
        "`POST /admin/cache/clear",
        "`GET /admin/cache/clear`",
        "`GET /api/crypto/dashboard-summary/cached`",
    ] {
        let row = readme
            .lines()
            .find(|l| l.starts_with('|') && l.contains(line))
            .unwrap_or_else(|| panic!("no README table row for {line}"));
        assert!(row.contains("seed"), "the row names the seed: {row}");
    }
}
