//! A hostile client against the admin surface: other spellings of admin
//! paths, a browser page driving the loopback admin listener (DNS
//! rebinding, cross-site requests), mislabelled bodies, and the one
//! component route that spends upstream calls on demand.

use crate::support::{Backend, Host, Services, http};

fn host_with_token(services: &Services, token: &str) -> Host {
    services.host_with(&[("STRATA_ADMIN_TOKEN", token)])
}

/// Spellings of admin requests that all name an admin endpoint.
const ADMIN_SPELLINGS: &[(&str, &str)] = &[
    ("POST", "/clear-cache"),
    ("POST", "/clear-cache/"),
    ("POST", "//clear-cache"),
    ("POST", "/clear-cache//"),
    ("POST", "///clear-cache///"),
    ("POST", "/clear-cache?pattern="),
    ("POST", "/clear-cache/?pattern=*"),
    ("GET", "/clear-cache/"),
    ("GET", "/admin/components"),
    ("GET", "/admin/components/"),
    ("GET", "//admin//components"),
    ("POST", "/admin/components/market/rollback/"),
    ("DELETE", "/admin/components/market/"),
    ("DELETE", "//admin/components//market"),
    ("POST", "/admin/reports/"),
];

async fn send(method: &str, url: String) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let response = http().request(method, url).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Fills L1 and confirms it is a hit, so a test can see whether a clear
/// slipped through.
async fn cache_something(host: &Host) {
    host.get("/api/market/btc").await;
    assert_eq!(host.get("/api/market/btc").await.cache(), "hit-l1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_an_admin_path_needs_the_token() {
    let services = Services::start(Backend::Bare).await;
    let host = host_with_token(&services, "correct-horse");
    cache_something(&host).await;
    for (method, path) in ADMIN_SPELLINGS {
        let (status, body) = send(method, format!("{}{path}", host.url)).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
    assert_eq!(
        host.get("/api/market/btc").await.cache(),
        "hit-l1",
        "nothing was cleared"
    );
    assert_eq!(
        host.get("/health").await.json()["components"],
        3,
        "nothing was removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_every_spelling_of_an_admin_path_is_absent_from_the_public_listener() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    cache_something(&host).await;
    for (method, path) in ADMIN_SPELLINGS {
        let (status, body) = send(method, format!("{}{path}", host.url)).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    assert_eq!(host.get("/api/market/btc").await.cache(), "hit-l1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_refuses_a_rebound_host_name() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    cache_something(&host).await;
    let admin = host.admin_url.clone().expect("admin listener");
    let port = admin.rsplit(':').next().expect("port");
    for (method, path) in [("POST", "/clear-cache"), ("GET", "/admin/components")] {
        let response = http()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{admin}{path}"),
            )
            .header("host", format!("rebound.evil.example:{port}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 403, "{method} {path}");
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["code"], "forbidden");
    }
    assert_eq!(host.get("/api/market/btc").await.cache(), "hit-l1");
    let listed = host.admin("GET", "/admin/components").await;
    assert_eq!(listed.status, 200, "a loopback Host still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_refuses_a_request_from_another_sites_page() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    cache_something(&host).await;
    let admin = host.admin_url.clone().expect("admin listener");
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let response = http()
            .post(format!("{admin}/clear-cache"))
            .header(name, value)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 403, "{name}: {value}");
    }
    assert_eq!(host.get("/api/market/btc").await.cache(), "hit-l1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused_even_with_the_token() {
    let services = Services::start(Backend::Bare).await;
    let host = host_with_token(&services, "correct-horse");
    let response = http()
        .post(format!("{}/clear-cache", host.url))
        .bearer_auth("correct-horse")
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_is_not_labelled_wasm_is_refused_unread() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let admin = host.admin_url.clone().expect("admin listener");
    for content_type in [
        None,
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let mut request = http()
            .post(format!("{admin}/admin/components/market"))
            .body(b"\0asm\x0d\0\x01\0".to_vec());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status().as_u16(), 415, "{content_type:?}");
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["code"], "unsupported_media_type");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_is_not_labelled_json_is_refused() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let admin = host.admin_url.clone().expect("admin listener");
    let report = r#"{"symbol":"btc","timeframe":"1d","title":"t","body":"<p>b</p>"}"#;
    let response = http()
        .post(format!("{admin}/admin/reports"))
        .header("content-type", "text/plain")
        .body(report)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 415);
    assert_eq!(
        host.get("/reports/latest")
            .await
            .header("x-strata-report-id"),
        Some("4"),
        "nothing was published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_refresh_spends_no_upstream_calls_for_a_public_client() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let before = services.simulator.requests().await;
    for path in [
        "/api/crypto/dashboard-summary/refresh",
        "/api/crypto/dashboard-summary/refresh/",
        "//api/crypto/dashboard-summary/refresh",
    ] {
        for method in ["GET", "POST", "PUT", "DELETE", "HEAD"] {
            let reply = host.request(method, path).await;
            assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
        }
    }
    assert_eq!(
        services.simulator.requests().await,
        before,
        "no upstream call"
    );

    let admin = host.admin_url.clone().expect("admin listener");
    let refreshed = http()
        .get(format!("{admin}/api/crypto/dashboard-summary/refresh"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        refreshed.status().as_u16(),
        200,
        "operators can still refresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_refresh_needs_the_token_on_the_public_listener() {
    let services = Services::start(Backend::Bare).await;
    let host = host_with_token(&services, "correct-horse");
    let url = format!("{}/api/crypto/dashboard-summary/refresh", host.url);
    let refused = http().get(&url).send().await.expect("request");
    assert_eq!(refused.status().as_u16(), 401);
    let other_method = http().post(&url).send().await.expect("request");
    assert_eq!(
        other_method.status().as_u16(),
        401,
        "no hint what the route takes"
    );
    let refreshed = http()
        .get(&url)
        .bearer_auth("correct-horse")
        .send()
        .await
        .expect("request");
    assert_eq!(refreshed.status().as_u16(), 200);
}
