//! The live dashboard: scheduled refreshes pushed over WebSocket, across
//! instances, through failures, and rendered by a real browser.

use std::time::{Duration, Instant};

use crate::support::ws::{
    assert_every_client_saw_the_same_updates, assert_one_refresh_per_tick, connect, next_update,
    stamps,
};
use crate::support::{Backend, Services};
use serde_json::{Value, json};

fn fast_refresh() -> Vec<(&'static str, &'static str)> {
    vec![("STRATA_DASHBOARD_REFRESH_SECONDS", "1")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_the_snapshot_at_once_then_the_next_scheduled_update() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&fast_refresh());
    let mut socket = connect(&host).await;

    let first = next_update(&mut socket, Duration::from_secs(5))
        .await
        .expect("snapshot");
    assert!(
        first["data"]["top_coins"]
            .as_array()
            .is_some_and(|c| c.len() == 10),
        "{first}"
    );
    assert!(first["timestamp"].is_string());
    let second = next_update(&mut socket, Duration::from_secs(5))
        .await
        .expect("scheduled update");
    assert_ne!(
        second["timestamp"], first["timestamp"],
        "a new refresh, not a repeat"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_instances_one_refreshes_and_clients_on_both_get_each_update_once() {
    let services = Services::start(Backend::RedisPostgres).await;
    let a = services.host_with(&fast_refresh());
    let b = services.host_with(&fast_refresh());
    let (on_a, on_b) = (connect(&a).await, connect(&b).await);
    let before = services.simulator.requests().await;

    let window = Duration::from_millis(4500);
    let (stamps_a, stamps_b) = tokio::join!(stamps(on_a, window), stamps(on_b, window));
    let upstream_calls = services.simulator.requests().await - before;

    assert_every_client_saw_the_same_updates(&[&stamps_a, &stamps_b]);
    assert_one_refresh_per_tick(upstream_calls, &stamps_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upstream_backs_off_and_clients_keep_the_last_good_data() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[
        ("STRATA_DASHBOARD_REFRESH_SECONDS", "1"),
        ("STRATA_DASHBOARD_BACKOFF_BASE_SECONDS", "2"),
        ("STRATA_OUTBOUND_RETRIES", "0"),
    ]);
    let mut socket = connect(&host).await;
    let good = next_update(&mut socket, Duration::from_secs(5))
        .await
        .expect("snapshot");

    services
        .simulator
        .set_faults(json!({ "fail_next": 100000 }))
        .await;
    assert!(
        next_update(&mut socket, Duration::from_secs(4))
            .await
            .is_none(),
        "no update is broadcast while refreshes fail"
    );
    let mut late = connect(&host).await;
    let snapshot = next_update(&mut late, Duration::from_secs(2))
        .await
        .expect("snapshot");
    assert_eq!(
        snapshot["data"], good["data"],
        "new clients get the last good data"
    );

    let log = std::fs::read_to_string(&host.log).expect("log");
    let failures = log.matches("dashboard refresh failed").count();
    assert!(failures >= 2, "refreshes were attempted:\n{log}");
    assert!(
        failures <= 4,
        "and backed off instead of retrying every second ({failures} failures in ~4 s)"
    );
    let mut recovered = false;
    services
        .simulator
        .set_faults(json!({ "fail_next": 0 }))
        .await;
    let deadline = Instant::now() + Duration::from_secs(12);
    while Instant::now() < deadline {
        if next_update(&mut socket, Duration::from_secs(1))
            .await
            .is_some()
        {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "updates resume once the upstream recovers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_and_plain_get_on_ws_asks_for_an_upgrade() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let page = host.get("/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(page.body.contains("id=\"connection\""));
    assert!(host.get("/app.js").await.body.contains("WebSocket"));
    assert_eq!(host.get("/app.css").await.status, 200);
    let plain = host.get("/ws").await;
    assert_eq!(plain.status, 426);
    assert_eq!(plain.json()["code"], "upgrade_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_shows_a_live_update_on_the_page() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_DASHBOARD_REFRESH_SECONDS", "2")]);
    let browser_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `bash scripts/setup.sh`"
    );
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let output = tokio::process::Command::new("node")
        .arg(browser_dir.join("dashboard.mjs"))
        .arg(&host.url)
        .arg(&screenshot)
        .args(["--timeout-ms", "30000"])
        .output()
        .await
        .expect("run node (installed by scripts/setup.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("JSON result line");
    assert_eq!(result["ok"], true);
    assert!(result["updates_after"].as_u64() > result["updates_before"].as_u64());
    assert!(
        screenshot.is_file(),
        "screenshot saved at {}",
        screenshot.display()
    );
    println!("screenshot: {}", screenshot.display());
}

#[test]
fn the_page_formatting_helpers_pass_their_unit_tests() {
    let tests =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/format.test.mjs");
    let output = std::process::Command::new("node")
        .arg("--test")
        .arg(tests)
        .output()
        .expect("run node (installed by scripts/setup.sh)");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
