//! Behaviour of the `/__sim/` control plane, fault injection and the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{get_within, start, start_with};
use http::StatusCode;
use serde_json::json;
use strata_market_sim::SimConfig;

#[tokio::test]
async fn health_is_ok() {
    let sim = start().await;
    let reply = sim.get("/__sim/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, json!({"status": "ok"}));
}

#[tokio::test]
async fn stats_count_api_requests_but_not_control_calls() {
    let sim = start().await;
    sim.get("/api/v3/global").await;
    sim.get("/api/v3/coins/list").await;
    sim.get("/api/v3/coins/markets?vs_currency=usd").await;
    sim.get("/api/v3/coins/markets").await; // a 400 still reached "upstream"
    sim.get("/api/v3/simple/price?ids=bitcoin&vs_currencies=usd")
        .await;
    sim.get("/api/v3/coins/bitcoin/market_chart?vs_currency=usd&days=1")
        .await;
    sim.get("/__sim/health").await;
    sim.get("/__sim/faults").await;
    sim.get("/nope").await;
    assert_eq!(
        sim.stats().await,
        json!({
            "requests": 6,
            "by_route": {"global": 1, "coins_list": 1, "markets": 2, "simple_price": 1, "market_chart": 1},
            "faults_injected": 0
        })
    );
}

#[tokio::test]
async fn stats_count_requests_answered_with_faults() {
    let sim = start().await;
    sim.set_faults(r#"{"fail_next": 2}"#).await;
    for _ in 0..3 {
        sim.get("/api/v3/global").await;
    }
    let stats = sim.stats().await;
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["by_route"]["global"], 3);
    assert_eq!(stats["faults_injected"], 2);
}

#[tokio::test]
async fn reset_zeroes_counters_and_clears_faults() {
    let sim = start().await;
    sim.set_faults(r#"{"fail_next": 5, "latency_ms": 10, "retry_after_secs": 7}"#)
        .await;
    sim.get("/api/v3/global").await;
    let reply = sim.post("/__sim/reset").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, json!({"ok": true}));
    assert_eq!(sim.stats().await["requests"], 0);
    assert_eq!(sim.stats().await["faults_injected"], 0);
    let faults = sim.get("/__sim/faults").await.json;
    assert_eq!(faults["fail_next"], 0);
    assert_eq!(faults["latency_ms"], 0);
    assert_eq!(faults["retry_after_secs"], 1);
    assert_eq!(sim.get("/api/v3/global").await.status, StatusCode::OK);
}

#[tokio::test]
async fn faults_default_to_a_healthy_upstream() {
    let sim = start().await;
    assert_eq!(
        sim.get("/__sim/faults").await.json,
        json!({
            "latency_ms": 0, "jitter_ms": 0, "error_rate": 0.0, "rate_limit_next": 0,
            "retry_after_secs": 1, "fail_next": 0, "hang_next": 0, "error_rate_seed": 0
        })
    );
}

#[tokio::test]
async fn faults_partial_update_keeps_other_fields() {
    let sim = start().await;
    sim.set_faults(r#"{"latency_ms": 5}"#).await;
    let reply = sim.put("/__sim/faults", r#"{"retry_after_secs": 3}"#).await;
    assert_eq!(reply.json["latency_ms"], 5);
    assert_eq!(reply.json["retry_after_secs"], 3);
    assert_eq!(sim.get("/__sim/faults").await.json, reply.json);
}

#[tokio::test]
async fn faults_reject_unknown_fields_with_400() {
    let sim = start().await;
    let reply = sim.put("/__sim/faults", r#"{"latency": 5}"#).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error().contains("latency"), "{}", reply.error());
}

#[tokio::test]
async fn faults_reject_invalid_values_with_400() {
    let sim = start().await;
    for body in [
        r#"{"error_rate": 1.5}"#,
        r#"{"fail_next": -1}"#,
        "not json",
        "",
    ] {
        let reply = sim.put("/__sim/faults", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(!reply.error().is_empty());
    }
    assert_eq!(sim.get("/__sim/faults").await.json["error_rate"], 0.0);
}

#[tokio::test]
async fn rate_limit_next_returns_429_with_retry_after() {
    let sim = start().await;
    sim.set_faults(r#"{"rate_limit_next": 2, "retry_after_secs": 7}"#)
        .await;
    for _ in 0..2 {
        let reply = sim.get("/api/v3/global").await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            reply
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
        assert!(!reply.error().is_empty());
    }
    assert_eq!(sim.get("/api/v3/global").await.status, StatusCode::OK);
    assert_eq!(sim.get("/__sim/faults").await.json["rate_limit_next"], 0);
}

#[tokio::test]
async fn fail_next_returns_503_then_recovers() {
    let sim = start().await;
    sim.set_faults(r#"{"fail_next": 1}"#).await;
    let reply = sim
        .get("/api/v3/simple/price?ids=bitcoin&vs_currencies=usd")
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!reply.error().is_empty());
    let reply = sim
        .get("/api/v3/simple/price?ids=bitcoin&vs_currencies=usd")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn error_rate_one_answers_every_request_with_500() {
    let sim = start().await;
    sim.set_faults(r#"{"error_rate": 1.0}"#).await;
    for _ in 0..5 {
        let reply = sim.get("/api/v3/global").await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!reply.error().is_empty());
    }
    // The control plane is never faulted.
    assert_eq!(sim.get("/__sim/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn error_rate_is_reproducible_with_the_same_seed() {
    let sim = start().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        sim.set_faults(r#"{"error_rate": 0.5, "error_rate_seed": 1234}"#)
            .await;
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(sim.get("/api/v3/global").await.status.as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&500) && runs[0].contains(&200),
        "{:?}",
        runs[0]
    );
}

#[tokio::test]
async fn hang_next_does_not_block_other_requests() {
    let sim = start().await;
    sim.set_faults(r#"{"hang_next": 1}"#).await;
    let addr = sim.addr;
    let hung = tokio::spawn(async move {
        get_within(addr, "/api/v3/global", Duration::from_millis(500)).await
    });
    // Wait until the hung request has reached the server and consumed the fault.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.stats().await["requests"] != 1 {
        assert!(Instant::now() < deadline, "hung request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let other = get_within(addr, "/api/v3/global", Duration::from_millis(400))
        .await
        .expect("a second request is answered while the first hangs");
    assert_eq!(other.status, StatusCode::OK);
    assert!(
        hung.await.expect("join").is_none(),
        "hung request was answered"
    );
}

#[tokio::test]
async fn latency_fault_delays_api_but_not_control_requests() {
    let sim = start().await;
    sim.set_faults(r#"{"latency_ms": 200}"#).await;
    let started = Instant::now();
    sim.get("/__sim/health").await;
    assert!(started.elapsed() < Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(sim.get("/api/v3/global").await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn configured_latency_delays_api_requests() {
    let sim = start_with(SimConfig {
        latency: Duration::from_millis(150),
        coins: 20,
        ..SimConfig::default()
    })
    .await;
    let started = Instant::now();
    assert_eq!(sim.get("/api/v3/global").await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn binary_prints_its_listening_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_market-sim"))
        .args(["--listen", "127.0.0.1:0", "--coins", "50"])
        .env_remove("MARKET_SIM_LISTEN")
        .env_remove("MARKET_SIM_COINS")
        .env_remove("MARKET_SIM_LATENCY_MS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn market-sim");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("read line");
    let addr = line
        .trim_end()
        .strip_prefix("market-sim listening on http://")
        .unwrap_or_else(|| panic!("unexpected banner {line:?}"))
        .parse()
        .expect("socket address");
    let reply = common::send(addr, http::Method::GET, "/api/v3/global", "").await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["data"]["active_cryptocurrencies"], 50);
}
