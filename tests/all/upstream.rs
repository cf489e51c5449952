//! Outbound calls under upstream trouble: rate limits, a dead upstream, and
//! one that never answers. Faults come from the simulator's injection API.

use std::time::{Duration, Instant};

use crate::support::{Backend, Services};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_waited_out_and_retried() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    services
        .simulator
        .set_faults(json!({ "rate_limit_next": 1, "retry_after_secs": 1 }))
        .await;
    let started = Instant::now();
    let reply = host.get("/api/market/xrp").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let metrics = host.get("/metrics").await.body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("strata_upstream_retries_total{") && l.ends_with(" 1")),
        "one retry recorded:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_after_consecutive_failures_and_half_opens_after_cool_down() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[
        ("STRATA_OUTBOUND_RETRIES", "0"),
        ("STRATA_OUTBOUND_BREAKER_THRESHOLD", "3"),
        ("STRATA_OUTBOUND_BREAKER_COOL_DOWN_MS", "1500"),
    ]);
    services
        .simulator
        .set_faults(json!({ "fail_next": 3 }))
        .await;
    for symbol in ["btc", "eth", "sol"] {
        let reply = host.get(&format!("/api/market/{symbol}")).await;
        assert_eq!(reply.status, 502, "{symbol}: {}", reply.body);
    }
    let calls = services.simulator.requests().await;
    let refused = host.get("/api/market/ada").await;
    assert_eq!(refused.status, 502);
    assert!(refused.body.contains("circuit"), "{}", refused.body);
    assert_eq!(
        services.simulator.requests().await,
        calls,
        "an open breaker sends nothing upstream"
    );

    tokio::time::sleep(Duration::from_millis(1700)).await;
    let probe = host.get("/api/market/ada").await;
    assert_eq!(
        probe.status, 200,
        "the half-open probe succeeds: {}",
        probe.body
    );
    assert_eq!(
        host.get("/api/market/dot").await.status,
        200,
        "and closes the breaker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_hangs_costs_a_request_no_more_than_its_timeout() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[
        ("STRATA_OUTBOUND_TIMEOUT_MS", "1000"),
        ("STRATA_OUTBOUND_RETRIES", "0"),
    ]);
    // The symbol list first, so the hanging call is the quote's.
    assert_eq!(host.get("/api/market/btc").await.status, 200);
    services
        .simulator
        .set_faults(json!({ "hang_next": 1 }))
        .await;
    let started = Instant::now();
    let reply = host.get("/api/market/ltc").await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(reply.body.to_lowercase().contains("time"), "{}", reply.body);
    assert!(
        elapsed < Duration::from_secs(5),
        "bounded by the 1 s budget, took {elapsed:?}"
    );
}
