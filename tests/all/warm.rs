//! The warm tier: a component that opts in with `instances = "warm"` has
//! its instances reused, and everything the host holds for one request
//! (handles, grants, log budget, deadline) still ends with that request.
//! An instance that misbehaves is retired and the next request gets a
//! fresh one.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::security::hostile;
use crate::support::{Backend, Host, Services, http};

/// The hostile component served with `settings` (TOML lines of its table,
/// beside the grants it needs to load).
fn hostile_host(services: &Services, settings: &str) -> Host {
    hostile_host_timed(services, settings, 5000)
}

/// As [`hostile_host`], with a per-request deadline of `timeout_ms`.
fn hostile_host_timed(services: &Services, settings: &str, timeout_ms: u64) -> Host {
    hostile::host_timed(
        services,
        timeout_ms,
        &format!("{}\n{settings}\n", hostile::OWN_CORNER),
    )
}

async fn count(host: &Host) -> u64 {
    let reply = host.get("/hostile/count").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["count"].as_u64().expect("count")
}

/// Counts from `count` requests made one after another.
async fn counts(host: &Host, n: usize) -> Vec<u64> {
    let mut seen = Vec::with_capacity(n);
    for _ in 0..n {
        seen.push(count(host).await);
    }
    seen
}

async fn metric(host: &Host, series: &str) -> f64 {
    let text = host.get("/metrics").await.body;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_component_serves_sequential_requests_from_one_instance() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "instances = \"warm\"");
    let seen = counts(&host, 10).await;
    assert_eq!(
        seen,
        (1..=10).collect::<Vec<_>>(),
        "one instance served all"
    );
    let reused = metric(
        &host,
        "strata_instances_reused_total{component=\"hostile\",instances=\"warm\"}",
    )
    .await;
    assert!(reused >= 9.0, "reuse counted: {reused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_guest_that_prints_is_still_reused() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "instances = \"warm\"");
    assert_eq!(count(&host).await, 1);
    let printed = host.get("/hostile/print").await;
    assert_eq!(printed.status, 200, "{}", printed.body);
    assert_eq!(
        counts(&host, 2).await,
        vec![2, 3],
        "stdio handles a guest's libc keeps are no reason to retire it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_component_never_sees_an_earlier_requests_memory() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "");
    assert_eq!(counts(&host, 5).await, vec![1; 5]);
    let started = metric(
        &host,
        "strata_instances_started_total{component=\"hostile\",instances=\"fresh\"}",
    )
    .await;
    assert!(started >= 5.0, "{started}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_instance_that_traps_is_retired_and_the_next_request_is_fresh() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "instances = \"warm\"");
    assert_eq!(counts(&host, 2).await, vec![1, 2]);
    let trapped = host.get("/hostile/trap").await;
    assert_eq!(trapped.status, 500, "{}", trapped.body);
    assert_eq!(count(&host).await, 1, "the trapped instance is gone");
    let retired = metric(
        &host,
        "strata_instances_retired_total{component=\"hostile\",instances=\"warm\",reason=\"trap\"}",
    )
    .await;
    assert_eq!(retired, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_instance_stopped_at_its_deadline_is_retired() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host_timed(&services, "instances = \"warm\"", 300);
    assert_eq!(counts(&host, 2).await, vec![1, 2]);
    let stopped = host.get("/hostile/loop").await;
    assert_eq!(stopped.status, 504, "{}", stopped.body);
    assert_eq!(count(&host).await, 1, "the stopped instance is gone");
    let retired = metric(
        &host,
        "strata_instances_retired_total{component=\"hostile\",instances=\"warm\",reason=\"deadline\"}",
    )
    .await;
    assert_eq!(retired, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_handle_kept_by_a_warm_guest_does_not_reach_the_next_request() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "instances = \"warm\"");
    let stashed = http()
        .get(format!("{}/hostile/stash", host.url))
        .header("x-secret", "request-a-secret")
        .send()
        .await
        .expect("stash");
    assert_eq!(stashed.status(), 200);
    let read = host.get("/hostile/read-stash").await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(
        read.json()["secret"],
        serde_json::Value::Null,
        "request B read request A's header through a kept handle"
    );
    let retired = metric(
        &host,
        "strata_instances_retired_total{component=\"hostile\",instances=\"warm\",reason=\"held_resource\"}",
    )
    .await;
    assert!(retired >= 1.0, "{retired}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_instance_gets_a_new_deadline_for_each_request() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host_timed(&services, "instances = \"warm\"", 400);
    assert_eq!(count(&host).await, 1);
    // Past the first request's deadline: a deadline carried over from it
    // would stop the next request at its first epoch tick, and `busy`
    // computes across several.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let busy = host.get("/hostile/busy").await;
    assert_eq!(busy.status, 200, "{}", busy.body);
    assert_eq!(
        count(&host).await,
        2,
        "served by the same instance, in time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_instance_gets_a_new_log_budget_for_each_request() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "instances = \"warm\"");
    assert_eq!(count(&host).await, 1);
    let flood = host.get("/hostile/log-flood").await;
    assert_eq!(flood.status, 200, "{}", flood.body);
    let report = hostile::probe(&host, "log", "after-the-flood-marker").await;
    assert_eq!(report["outcome"], "ok", "{report}");
    assert_eq!(count(&host).await, 2, "one instance served every request");
    let log = host.log_text();
    assert!(
        log.contains("after-the-flood-marker"),
        "the next request's line was dropped with the flood's budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_instance_is_retired_after_its_request_limit() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(
        &services,
        "instances = \"warm\"\nmax_requests_per_instance = 3",
    );
    assert_eq!(counts(&host, 7).await, vec![1, 2, 3, 1, 2, 3, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_warm_instance_is_retired_and_its_slot_given_back() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "instances = \"warm\"\nidle_timeout_ms = 200");
    assert_eq!(counts(&host, 2).await, vec![1, 2]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let parked = metric(
        &host,
        "strata_instances_parked{component=\"hostile\",instances=\"warm\"}",
    )
    .await;
    assert_eq!(parked, 0.0, "the sweeper retired the idle instance");
    assert_eq!(count(&host).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_instance_whose_memory_grew_past_the_high_water_mark_is_retired() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "instances = \"warm\"\nmemory_high_water_mib = 6");
    assert_eq!(
        counts(&host, 2).await,
        vec![1, 2],
        "small instances are kept"
    );
    let grown = host.get("/hostile/grow").await;
    assert_eq!(grown.status, 200, "{}", grown.body);
    assert_eq!(count(&host).await, 1, "the grown instance is gone");
    let retired = metric(
        &host,
        "strata_instances_retired_total{component=\"hostile\",instances=\"warm\",reason=\"memory\"}",
    )
    .await;
    assert_eq!(retired, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_beyond_the_pool_get_fresh_instances_not_a_queue() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "instances = \"warm\"\npool_size = 1");
    let requests = (0..16).map(|_| {
        let url = format!("{}/hostile/count", host.url);
        async move { http().get(url).send().await.map(|r| r.status().as_u16()) }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(200))),
        "{statuses:?}"
    );
    let parked = metric(
        &host,
        "strata_instances_parked{component=\"hostile\",instances=\"warm\"}",
    )
    .await;
    assert!(parked <= 1.0, "the pool holds at most pool_size: {parked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_guest_never_sees_does_not_cost_a_parked_instance() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile_host(&services, "instances = \"warm\"");
    assert_eq!(count(&host).await, 1);
    // A Host header wasi:http cannot hand to the guest as a string.
    let mut stream = tokio::net::TcpStream::connect(host.url.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /hostile/count HTTP/1.1\r\nHost: caf\xe9\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 4"),
        "refused as the client's fault: {answer}"
    );
    assert_eq!(count(&host).await, 2, "the parked instance is still there");
}
