//! Outbound attacks from a hostile component: redirects that leave the
//! allow-list, loopback in disguise (numeric IPv4 spellings, IPv6 forms, a
//! name resolving to 127.0.0.1), the host's own listeners, credentials in
//! URLs, smuggled headers, one component tripping another's breaker, and
//! denied hosts growing /metrics. Every one is refused with a typed
//! `fetch-error` and never reaches its target.
//!
//! The attacks start from [`Upstream`], a tiny HTTP server on loopback that
//! the component is allowed to call by its IP literal, and that redirects
//! wherever a test asks.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::security::hostile::{host, probe, refused};
use crate::support::{Backend, Host, Services, http};

/// Bounds every call of these tests (a refused call fails fast anyway).
const ENV: &[(&str, &str)] = &[("STRATA_OUTBOUND_TIMEOUT_MS", "3000")];

/// A loopback HTTP server the component may call; see [`answer`].
struct Upstream {
    /// `http://ip:port`.
    url: String,
    port: u16,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start() -> Self {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    async fn start_on(ip: IpAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .expect("bind the test upstream");
        let address = listener.local_addr().expect("address");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(req, counter.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{address}"),
            port: address.port(),
            hits,
            task,
        }
    }

    /// The hostile component's grants, allowed to call exactly this server.
    fn grant(&self) -> String {
        grants(&self.url)
    }

    /// A URL on this server that answers `status` with `Location: to`.
    fn redirect(&self, status: u16, to: &str) -> String {
        format!("{}/redirect?status={status}&to={}", self.url, encode(to))
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The test upstream's routes:
/// - `/redirect?status=N&to=LOCATION`: answers N with that `Location`;
/// - `/chain/N?to=LOCATION`: N relative 302 hops, then 302 to LOCATION;
/// - `/loop`: 302 to itself;
/// - `/slow`: 200 after half a second;
/// - `/echo`: 200 with the request as JSON (method, headers, body);
/// - anything else: 200 `upstream`.
async fn answer(
    req: Request<Incoming>,
    hits: Arc<AtomicUsize>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    hits.fetch_add(1, Ordering::SeqCst);
    let url = url::Url::parse(&format!("http://upstream{}", req.uri())).expect("request URI");
    let query = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let redirect = |status: u16, location: &str| {
        Response::builder()
            .status(status)
            .header("location", location)
            .body(Full::new(Bytes::new()))
            .expect("redirect response")
    };
    let path = url.path().to_string();
    let response = if path == "/redirect" {
        redirect(query("status").parse().unwrap_or(302), &query("to"))
    } else if let Some(n) = path.strip_prefix("/chain/") {
        match n.parse::<u32>().unwrap_or(0) {
            0 => redirect(302, &query("to")),
            n => redirect(
                302,
                &format!("/chain/{}?to={}", n - 1, encode(&query("to"))),
            ),
        }
    } else if path == "/loop" {
        redirect(302, "/loop")
    } else if path == "/slow" {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Response::new(Full::new(Bytes::from_static(b"slow")))
    } else if path == "/echo" {
        let method = req.method().to_string();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let echo = json!({
            "method": method,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        });
        Response::new(Full::new(Bytes::from(echo.to_string())))
    } else {
        Response::new(Full::new(Bytes::from_static(b"upstream")))
    };
    Ok(response)
}

/// The hostile component's grants (it imports every capability) with one
/// outbound entry.
fn grants(outbound: &str) -> String {
    format!("cache_prefixes = [\"hostile:\"]\nsql = \"read-only\"\noutbound = [{outbound:?}]")
}

/// `{"url": url}` as a probe body.
fn get(url: &str) -> String {
    json!({ "url": url }).to_string()
}

fn admin(host: &Host) -> &str {
    host.admin_url.as_deref().expect("an admin listener")
}

fn port_of(url: &str) -> u16 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .expect("a URL with a port")
}

/// The upstream's echo of one request, from a successful probe.
fn echoed(report: &Value) -> Value {
    assert_eq!(report["outcome"], "ok", "{report}");
    serde_json::from_str(report["body"].as_str().expect("echo body")).expect("echo JSON")
}

fn echoed_header<'a>(echo: &'a Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pair| pair[0].as_str() == Some(name))
        .filter_map(|pair| pair[1].as_str())
        .collect()
}

// ----- redirects -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_302_from_an_allowed_host_to_the_admin_listener_is_denied() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let to = format!("{}/admin/components", admin(&host));
    let report = probe(&host, "fetch", get(&upstream.redirect(302, &to))).await;
    refused(&report, "denied", "a 302 to the admin listener");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_307_post_to_the_admin_clear_endpoint_is_denied() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let to = format!("{}/clear-cache", admin(&host));
    let body = json!({ "url": upstream.redirect(307, &to), "method": "POST", "body": "{}" });
    let report = probe(&host, "fetch", body.to_string()).await;
    refused(&report, "denied", "a 307 POST to the admin clear endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_303_to_another_loopback_server_is_denied() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let other = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let body = json!({ "url": upstream.redirect(303, &other.url), "method": "POST" });
    let report = probe(&host, "fetch", body.to_string()).await;
    refused(&report, "denied", "a 303 to a server not on the list");
    assert_eq!(other.hits(), 0, "the other server was never called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_host_that_redirects_to_a_host_not_on_the_list_is_denied() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let other = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let report = probe(&host, "fetch", get(&upstream.redirect(302, &other.url))).await;
    refused(&report, "denied", "a redirect off the allow-list");
    assert_eq!(other.hits(), 0, "the other server was never called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheme_relative_location_to_the_admin_listener_is_denied() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let to = format!("//127.0.0.1:{}/admin/components", port_of(admin(&host)));
    let report = probe(&host, "fetch", get(&upstream.redirect(302, &to))).await;
    refused(
        &report,
        "denied",
        "a relative Location to the admin listener",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_allowed_hops_ending_at_the_admin_listener_is_denied() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let to = format!("{}/admin/components", admin(&host));
    let url = format!("{}/chain/3?to={}", upstream.url, encode(&to));
    let report = probe(&host, "fetch", get(&url)).await;
    refused(&report, "denied", "the last hop of a redirect chain");
    assert_eq!(
        upstream.hits(),
        4,
        "three relative hops, then the refused one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_redirect_loop_stops_at_the_hop_limit() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let report = probe(&host, "fetch", get(&format!("{}/loop", upstream.url))).await;
    let message = refused(&report, "transport", "an endless redirect loop");
    assert!(message.contains("redirect"), "{message}");
    assert_eq!(
        upstream.hits(),
        6,
        "the first request and 5 redirects (the default limit), no retries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_private_and_metadata_addresses_are_denied() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    for to in [
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/",
    ] {
        let report = probe(&host, "fetch", get(&upstream.redirect(302, to))).await;
        refused(&report, "denied", to);
    }
}

// ----- redirects that stay on the list still work --------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_on_the_allow_list_are_followed_with_the_rfc_method_rules() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let echo = format!("{}/echo", upstream.url);
    for (status, method, body) in [(303, "GET", ""), (302, "GET", ""), (307, "POST", "data")] {
        let request =
            json!({ "url": upstream.redirect(status, &echo), "method": "POST", "body": "data" });
        let echo = echoed(&probe(&host, "fetch", request.to_string()).await);
        assert_eq!(echo["method"], method, "after a {status}: {echo}");
        assert_eq!(echo["body"], body, "after a {status}: {echo}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_do_not_follow_a_redirect_to_another_allowed_origin() {
    let services = Services::start(Backend::Bare).await;
    let first = Upstream::start().await;
    let second = Upstream::start().await;
    let grants = format!(
        "cache_prefixes = [\"hostile:\"]\nsql = \"read-only\"\noutbound = [{:?}, {:?}]",
        first.url, second.url
    );
    let host = host(&services, &grants, ENV);
    let fetch = |to: String| {
        json!({
            "url": first.redirect(307, &to),
            "headers": [["Authorization", "Bearer meant-for-first"], ["Cookie", "s=1"]],
        })
        .to_string()
    };
    let same = echoed(&probe(&host, "fetch", fetch(format!("{}/echo", first.url))).await);
    assert_eq!(
        echoed_header(&same, "authorization"),
        ["Bearer meant-for-first"]
    );
    let other = echoed(&probe(&host, "fetch", fetch(format!("{}/echo", second.url))).await);
    assert!(echoed_header(&other, "authorization").is_empty(), "{other}");
    assert!(echoed_header(&other, "cookie").is_empty(), "{other}");
}

// ----- loopback in disguise ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_numeric_spellings_of_loopback_are_denied() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let admin_port = port_of(admin(&host));
    for spelling in ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0.0.0.0"] {
        let to = format!("http://{spelling}:{admin_port}/admin/components");
        let report = probe(&host, "fetch", get(&upstream.redirect(302, &to))).await;
        refused(&report, "denied", &to);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_ipv6_forms_of_loopback_are_denied() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let admin_port = port_of(admin(&host));
    for literal in [
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
    ] {
        let to = format!("http://{literal}:{admin_port}/admin/components");
        let report = probe(&host, "fetch", get(&upstream.redirect(307, &to))).await;
        refused(&report, "denied", &to);
    }
}

/// A name other than `localhost` that this machine resolves to a loopback
/// address (`/etc/hosts` usually maps the machine's own host name), with
/// that address.
async fn loopback_name() -> (String, IpAddr) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let candidates = [
        hostname.as_str(),
        "localhost.localdomain",
        "localhost4",
        "ip6-localhost",
        "ip6-loopback",
    ];
    for name in candidates {
        if name.is_empty() || name.eq_ignore_ascii_case("localhost") {
            continue;
        }
        if let Ok(mut addrs) = tokio::net::lookup_host((name, 0)).await
            && let Some(addr) = addrs.find(|a| a.ip().is_loopback())
        {
            return (name.to_string(), addr.ip());
        }
    }
    panic!(
        "no name other than `localhost` resolves to a loopback address on this machine \
         (tried {candidates:?}); map one (the host name, say) to 127.0.0.1 in /etc/hosts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_name_that_resolves_to_loopback_is_denied() {
    let (name, ip) = loopback_name().await;
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start_on(ip).await;
    let host = host(
        &services,
        &grants(&format!("{name}:{}", upstream.port)),
        ENV,
    );
    let url = format!("http://{name}:{}/echo", upstream.port);
    let message = refused(
        &probe(&host, "fetch", get(&url)).await,
        "denied",
        "a name resolving to loopback",
    );
    assert!(message.contains("loopback"), "{message}");
    assert_eq!(upstream.hits(), 0, "no connection was made");
}

// ----- the host's own listeners --------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowing_loopback_does_not_open_the_admin_listener() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &grants("127.0.0.1"), ENV);
    let allowed = probe(&host, "fetch", get(&upstream.url)).await;
    assert_eq!(allowed["outcome"], "ok", "loopback is allowed: {allowed}");
    let to = format!("{}/admin/components", admin(&host));
    refused(
        &probe(&host, "fetch", get(&to)).await,
        "denied",
        "the admin listener",
    );
    let to = format!("{}/hostile/ok", host.url);
    refused(
        &probe(&host, "fetch", get(&to)).await,
        "denied",
        "the host's own public listener",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowing_localhost_does_not_open_the_admin_listener() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &grants("localhost"), ENV);
    let url = format!("http://localhost:{}/", upstream.port);
    let allowed = probe(&host, "fetch", get(&url)).await;
    assert_eq!(allowed["outcome"], "ok", "localhost is allowed: {allowed}");
    let to = format!(
        "http://localhost:{}/admin/components",
        port_of(admin(&host))
    );
    refused(
        &probe(&host, "fetch", get(&to)).await,
        "denied",
        "the admin listener by name",
    );
}

// ----- credentials and headers ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_with_userinfo_are_refused() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let with_userinfo = format!("http://user:secret@127.0.0.1:{}/echo", upstream.port);
    refused(
        &probe(&host, "fetch", get(&with_userinfo)).await,
        "invalid-request",
        "a URL with userinfo",
    );
    refused(
        &probe(&host, "fetch", get(&upstream.redirect(302, &with_userinfo))).await,
        "invalid-request",
        "a redirect to a URL with userinfo",
    );
    assert_eq!(upstream.hits(), 1, "only the redirect itself was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smuggled_host_header_never_reaches_the_upstream() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let smuggled = format!("127.0.0.1:{}", port_of(admin(&host)));
    let body = json!({
        "url": format!("{}/echo", upstream.url),
        "headers": [["Host", smuggled]],
    });
    let echo = echoed(&probe(&host, "fetch", body.to_string()).await);
    assert_eq!(
        echoed_header(&echo, "host"),
        [format!("127.0.0.1:{}", upstream.port)],
        "the client writes Host from the URL: {echo}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggled_framing_and_hop_by_hop_headers_never_reach_the_upstream() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let body = json!({
        "url": format!("{}/echo", upstream.url),
        "method": "POST",
        "headers": [
            ["Transfer-Encoding", "chunked"],
            ["Content-Length", "5"],
            ["Connection", "X-Internal"],
            ["X-Internal", "1"],
            ["Upgrade", "h2c"],
            ["Proxy-Authorization", "Basic eDp5"],
        ],
        "body": "hello world",
    });
    let echo = echoed(&probe(&host, "fetch", body.to_string()).await);
    for name in [
        "transfer-encoding",
        "x-internal",
        "upgrade",
        "proxy-authorization",
    ] {
        assert!(
            echoed_header(&echo, name).is_empty(),
            "{name} reached the upstream: {echo}"
        );
    }
    assert_eq!(echoed_header(&echo, "content-length"), ["11"], "{echo}");
    assert_eq!(echo["body"], "hello world", "{echo}");
}

// ----- breakers and metrics ------------------------------------------------

/// A host serving the hostile component twice, as `a` on `/hostile/{mode}`
/// and as `b` on `/other/{mode}`, both allowed to call `upstream`.
fn two_components(services: &Services, upstream: &Upstream) -> Host {
    let hostile = std::path::Path::new(test_programs::HOSTILE);
    let source = format!("{:?}", hostile.display().to_string());
    let grant = upstream.grant();
    let manifest = format!(
        "[components.a]\nsource = {source}\n{grant}\n\n[components.b]\nsource = {source}\n{grant}\n\n\
         [[routes]]\npath = \"/hostile/{{mode}}\"\ncomponent = \"a\"\n\n\
         [[routes]]\npath = \"/other/{{mode}}\"\ncomponent = \"b\"\n"
    );
    let path = services.dir.path().join("two.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    services.host_with(&[
        ("STRATA_MANIFEST", path.to_str().expect("utf-8 path")),
        ("STRATA_OUTBOUND_RETRIES", "0"),
        ("STRATA_OUTBOUND_BREAKER_THRESHOLD", "2"),
        ("STRATA_OUTBOUND_BREAKER_COOL_DOWN_MS", "60000"),
    ])
}

/// A fetch probe through component `b`.
async fn probe_b(host: &Host, body: String) -> Value {
    http()
        .post(format!("{}/other/fetch", host.url))
        .body(body)
        .send()
        .await
        .expect("probe b")
        .json()
        .await
        .expect("probe b JSON")
}

/// Component `a` times itself out against a slow upstream, as many times
/// as the breaker threshold.
async fn time_out_twice(host: &Host, upstream: &Upstream) {
    let slow = json!({ "url": format!("{}/slow", upstream.url), "timeout_ms": 1 });
    for _ in 0..2 {
        let report = probe(host, "fetch", slow.to_string()).await;
        refused(&report, "timeout", "a 1 ms budget");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_components_short_timeouts_do_not_open_anothers_breaker() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = two_components(&services, &upstream);
    time_out_twice(&host, &upstream).await;
    let report = probe_b(&host, get(&format!("{}/echo", upstream.url))).await;
    assert_eq!(report["outcome"], "ok", "b's breaker is its own: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_components_own_short_timeouts_do_not_open_its_breaker() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = two_components(&services, &upstream);
    time_out_twice(&host, &upstream).await;
    let report = probe(&host, "fetch", get(&format!("{}/echo", upstream.url))).await;
    assert_eq!(
        report["outcome"], "ok",
        "a timeout the guest chose is not an upstream failure: {report}"
    );
}

/// The series `/metrics` exposes (names with labels, values left out).
async fn series(host: &Host) -> std::collections::BTreeSet<String> {
    let text = host.get("/metrics").await.body;
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_denied_hosts_do_not_grow_metrics() {
    let services = Services::start(Backend::Bare).await;
    let upstream = Upstream::start().await;
    let host = host(&services, &upstream.grant(), ENV);
    let deny = |i: usize| {
        let host = &host;
        async move {
            let url = format!("http://denied-{i}.example/");
            refused(&probe(host, "fetch", get(&url)).await, "denied", &url);
        }
    };
    deny(0).await;
    series(&host).await; // the first scrape adds the series of /metrics itself
    let before = series(&host).await;
    futures::stream::iter(1..=5000)
        .for_each_concurrent(16, deny)
        .await;
    let after = series(&host).await;
    let added: Vec<&String> = after.difference(&before).collect();
    assert!(
        added.is_empty(),
        "5,000 denied hosts added series: {added:?}"
    );
}
