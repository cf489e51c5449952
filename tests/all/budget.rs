//! Request budgets per upstream (`[[upstreams]]`) and holds after a 429,
//! against the simulator, which counts the calls that reach it.
//!
//! Symbols asked for are distinct and known to the simulator (`btc`, or
//! `c0016`..`c1000`), so each uncached one costs an upstream call; counts
//! are taken relative to a baseline, since a component may make calls of
//! its own (a symbol list fetched once per TTL) that the budget covers too.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Backend, Host, Services, http};

/// The default manifest plus a budget for the simulator.
fn budget_manifest(services: &Services, rate: &str, burst: u32) -> String {
    let manifest = format!(
        "{}\n[[upstreams]]\nhost = \"${{STRATA_UPSTREAM_URL}}\"\nrate = \"{rate}\"\nburst = {burst}\n",
        include_str!("../../host/src/config/default-manifest.toml")
    );
    let path = services
        .dir
        .path()
        .join(format!("budget-{rate}.toml").replace('/', "-per-"));
    std::fs::write(&path, manifest).expect("write manifest");
    path.to_str().expect("utf-8 path").to_string()
}

fn budgeted_host(services: &Services, manifest: &str) -> Host {
    services.host_with(&[
        ("STRATA_MANIFEST", manifest),
        ("STRATA_OUTBOUND_RETRIES", "0"),
    ])
}

/// How one request went.
struct Outcome {
    status: u16,
    retry_after: Option<String>,
    body: String,
    took: Duration,
}

async fn timed_get(url: String) -> Outcome {
    let started = Instant::now();
    let response = http().get(&url).send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.text().await.expect("body");
    Outcome {
        status,
        retry_after,
        body,
        took: started.elapsed(),
    }
}

/// A refusal as a client sees it: a 503 with a JSON error and a
/// `Retry-After` in whole seconds, quickly.
fn assert_refused_fast(outcome: &Outcome, what: &str) {
    assert_eq!(outcome.status, 503, "{what}: {}", outcome.body);
    let seconds = outcome
        .retry_after
        .as_deref()
        .and_then(|s| s.parse::<u32>().ok());
    assert!(
        seconds.is_some_and(|s| s >= 1),
        "{what}: Retry-After {:?}",
        outcome.retry_after
    );
    let body: serde_json::Value = serde_json::from_str(&outcome.body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", outcome.body));
    assert!(body["error"].is_string(), "{what}: {body}");
    // Far below the outbound (10 s) and request (30 s) timeouts a hang
    // would run into, with room for a loaded test machine.
    assert!(
        outcome.took < Duration::from_secs(5),
        "{what}: took {:?}",
        outcome.took
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_at_ten_times_the_budget_across_three_instances_stays_within_it() {
    let services = Services::start(Backend::RedisPostgres).await;
    let (rate, burst) = (2.0, 4.0);
    let manifest = budget_manifest(&services, "2/s", 4);
    let hosts: Vec<Host> = (0..3)
        .map(|_| budgeted_host(&services, &manifest))
        .collect();
    let urls: Vec<String> = hosts.iter().map(|h| h.url.clone()).collect();

    let before = services.simulator.requests().await;
    let started = Instant::now();
    for symbol in ["btc", "eth"] {
        let warm = hosts[0].get(&format!("/api/market/{symbol}")).await;
        assert_eq!(warm.status, 200, "{symbol} cached: {}", warm.body);
    }
    // 20 requests a second for 5 s, ten times the budget's rate, spread
    // over the three instances, with a cached symbol asked in between.
    let mut flood = Vec::new();
    let mut cached = Vec::new();
    for n in 0..100 {
        let base = &urls[n % urls.len()];
        flood.push(tokio::spawn(timed_get(format!(
            "{base}/api/market/c{:04}",
            100 + n
        ))));
        if n % 5 == 0 {
            let symbol = if n % 2 == 0 { "btc" } else { "eth" };
            let base = &urls[(n + 1) % urls.len()];
            cached.push(tokio::spawn(timed_get(format!(
                "{base}/api/market/{symbol}"
            ))));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut served = 0;
    for task in flood {
        let outcome = task.await.expect("flood request");
        if outcome.status == 200 {
            served += 1;
        } else {
            assert_refused_fast(&outcome, "over budget");
        }
    }
    for task in cached {
        let outcome = task.await.expect("cached request");
        assert_eq!(outcome.status, 200, "a cached symbol: {}", outcome.body);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let calls = (services.simulator.requests().await - before) as f64;
    let allowed = burst + rate * elapsed + 2.0;
    assert!(
        calls <= allowed,
        "{calls} upstream calls in {elapsed:.1} s; the budget allows {allowed:.1}"
    );
    assert!(
        served >= 2,
        "the budget still admits calls: {served} served"
    );

    let mut denied = 0.0;
    for host in &hosts {
        let metrics = host.get("/metrics").await.body;
        denied += metric(&metrics, "strata_upstream_budget_denied_total{");
        assert!(
            metrics.contains("strata_upstream_budget_admitted_total{upstream=\"127.0.0.1:"),
            "{metrics}"
        );
    }
    assert!(denied >= 50.0, "denials are counted: {denied}");
}

/// The sum of the samples whose line starts with `prefix`.
fn metric(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Asks `host` for distinct uncached symbols until `until`, each refused
/// fast; returns how many were asked.
async fn refused_until(host: &Host, until: Instant, first_symbol: usize) -> usize {
    let mut n = 0;
    while Instant::now() < until {
        let outcome = timed_get(format!("{}/api/market/c{:04}", host.url, first_symbol + n)).await;
        assert_refused_fast(&outcome, "while held");
        n += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_429_with_retry_after_no_call_goes_upstream_before_that_time() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_OUTBOUND_RETRIES", "0")]);
    assert_eq!(host.get("/api/market/c0500").await.status, 200);
    services
        .simulator
        .set_faults(json!({ "rate_limit_next": 1, "retry_after_secs": 3 }))
        .await;
    let asked = Instant::now();
    let limited = host.get("/api/market/c0501").await;
    assert_ne!(limited.status, 200, "{}", limited.body);
    let calls = services.simulator.requests().await;

    let probes = refused_until(&host, asked + Duration::from_millis(2500), 502).await;
    assert!(probes >= 3, "{probes} probes");
    assert_eq!(
        services.simulator.requests().await,
        calls,
        "no upstream call during the hold"
    );

    tokio::time::sleep_until((asked + Duration::from_millis(3300)).into()).await;
    let resumed = host.get("/api/market/c0550").await;
    assert_eq!(resumed.status, 200, "calls resume: {}", resumed.body);
    assert!(services.simulator.requests().await > calls);
    let metrics = host.get("/metrics").await.body;
    assert!(
        metric(&metrics, "strata_upstream_budget_holds_total{") >= 1.0,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_seen_by_one_instance_holds_every_instance_sharing_redis() {
    let services = Services::start(Backend::RedisPostgres).await;
    let manifest = budget_manifest(&services, "50/s", 50);
    let (a, b) = (
        budgeted_host(&services, &manifest),
        budgeted_host(&services, &manifest),
    );
    assert_eq!(a.get("/api/market/c0600").await.status, 200);
    assert_eq!(b.get("/api/market/c0601").await.status, 200);
    services
        .simulator
        .set_faults(json!({ "rate_limit_next": 1, "retry_after_secs": 3 }))
        .await;
    let asked = Instant::now();
    assert_ne!(a.get("/api/market/c0602").await.status, 200);
    let calls = services.simulator.requests().await;

    refused_until(&b, asked + Duration::from_millis(2500), 603).await;
    assert_eq!(
        services.simulator.requests().await,
        calls,
        "the other instance sent nothing during the hold"
    );

    tokio::time::sleep_until((asked + Duration::from_millis(3300)).into()).await;
    let resumed = b.get("/api/market/c0650").await;
    assert_eq!(resumed.status, 200, "calls resume: {}", resumed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_falls_back_to_each_instances_own_bucket() {
    let mut services = Services::start(Backend::RedisPostgres).await;
    let manifest = budget_manifest(&services, "5/s", 5);
    let host = budgeted_host(&services, &manifest);
    assert_eq!(host.get("/api/market/c0700").await.status, 200);
    drop(services.redis.take());

    let before = services.simulator.requests().await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..40 {
        tasks.push(tokio::spawn(timed_get(format!(
            "{}/api/market/c{:04}",
            host.url,
            701 + n
        ))));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut served = 0;
    for task in tasks {
        let outcome = task.await.expect("request");
        if outcome.status == 200 {
            served += 1;
        } else {
            assert_refused_fast(&outcome, "over the local budget");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let calls = (services.simulator.requests().await - before) as f64;
    assert!(served >= 5, "calls still admitted: {served}");
    let allowed = 5.0 + 5.0 * elapsed + 2.0;
    assert!(calls <= allowed, "{calls} calls, allowed {allowed:.1}");

    let metrics = host.get("/metrics").await.body;
    assert!(
        metric(&metrics, "strata_upstream_budget_redis_fallbacks_total") >= 1.0,
        "{metrics}"
    );
    let warnings = host
        .log_text()
        .matches("upstream budgets fall back")
        .count();
    assert_eq!(warnings, 1, "the outage is logged once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_serves_the_stale_quote_instead_of_spending_more() {
    let services = Services::start(Backend::Bare).await;
    // Quotes go stale after a second; the budget has two calls in it and
    // refills one a minute: the symbol list and the first quote spend it.
    let manifest = budget_manifest(&services, "1/min", 2);
    let text = std::fs::read_to_string(&manifest)
        .expect("manifest")
        .replace(
            "[cache.families.market]\nttl_seconds = 60",
            "[cache.families.market]\nttl_seconds = 1",
        );
    assert!(text.contains("ttl_seconds = 1\n"), "the market TTL is set");
    std::fs::write(&manifest, text).expect("write manifest");
    let host = budgeted_host(&services, &manifest);
    let first = host.get("/api/market/btc").await;
    assert_eq!(
        (first.status, first.cache()),
        (200, "miss"),
        "{}",
        first.body
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let calls = services.simulator.requests().await;

    let stale = host.get("/api/market/btc").await;
    assert_eq!(stale.status, 200, "{}", stale.body);
    assert_eq!(stale.cache(), "stale");
    assert_eq!(stale.json()["symbol"], "btc");
    let uncached = timed_get(format!("{}/api/market/eth", host.url)).await;
    assert_refused_fast(&uncached, "nothing cached to fall back on");
    assert_eq!(services.simulator.requests().await, calls, "nothing sent");
}
