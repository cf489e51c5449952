//! Hot deploy: swapping component versions under load, refusing bad
//! uploads, rollback, persistence across restarts and propagation between
//! instances.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::echo::{echo_host, upload, version, wait_for_version_within_a_second, wasm};
use crate::support::{Backend, Host, Services, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_deploys_under_load_fail_no_request_and_serve_only_active_versions() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let admin = host.admin_url.clone().expect("admin listener");
    let (v1, v2) = (wasm(test_programs::ECHO_V1), wasm(test_programs::ECHO_V2));
    let epoch = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Load: each response recorded as (start, end, version or failure).
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let url = format!("{}/hello", host.url);
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let start = epoch.elapsed();
                    let outcome = match http().get(&url).send().await {
                        Ok(r) if r.status().is_success() => r
                            .headers()
                            .get("x-echo-version")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                            .ok_or_else(|| "no version header".to_string()),
                        Ok(r) => Err(format!("HTTP {}", r.status())),
                        Err(e) => Err(e.to_string()),
                    };
                    seen.push((start, epoch.elapsed(), outcome));
                }
                seen
            })
        })
        .collect();

    // 50 deploys alternating v2, v1, ...: (call start, call end, version).
    let mut deploys = Vec::new();
    for i in 0..50 {
        let (bytes, expected) = if i % 2 == 0 {
            (v2.clone(), "v2")
        } else {
            (v1.clone(), "v1")
        };
        let start = epoch.elapsed();
        let (status, body) = upload(&admin, "echo", bytes).await;
        assert_eq!(status, 201, "deploy {i}: {body}");
        deploys.push((start, epoch.elapsed(), expected));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut responses = Vec::new();
    for worker in workers {
        responses.extend(worker.await.expect("load task"));
    }

    let failures: Vec<_> = responses.iter().filter(|r| r.2.is_err()).collect();
    assert!(
        failures.is_empty(),
        "{} failed requests, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    assert!(
        responses.len() > 200,
        "load ran: {} requests",
        responses.len()
    );

    // A version may answer a request if it was active at some moment of it.
    // Version of deploy i is active from (at the latest) its call's end and
    // (at the earliest) its call's start, until the next deploy's call end.
    let mut windows = vec![(Duration::ZERO, deploys[0].1, "v1")];
    for (i, (start, _, version)) in deploys.iter().enumerate() {
        let until = deploys.get(i + 1).map_or(Duration::MAX, |next| next.1);
        windows.push((*start, until, version));
    }
    for (start, end, outcome) in &responses {
        let version = outcome.as_deref().expect("checked above");
        let plausible = windows
            .iter()
            .any(|(from, until, v)| *v == version && *from <= *end && *until >= *start);
        assert!(
            plausible,
            "{version} answered a request at {start:?}..{end:?} when it was not active"
        );
    }
    assert_eq!(version(&host).await, "v1", "the last deploy (v1) is active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_the_running_version_keeps_serving() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let admin = host.admin_url.clone().expect("admin listener");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not wasm",
            b"hello, I am a text file".to_vec(),
            "not a WebAssembly binary",
        ),
        (
            "core module",
            b"\0asm\x01\0\0\0".to_vec(),
            "core WebAssembly module",
        ),
        (
            "wrong world",
            wasm(test_programs::WRONGWORLD),
            "does not export wasi:http/incoming-handler",
        ),
        (
            "ungranted import",
            wasm(test_programs::HOSTILE),
            "grants no",
        ),
        (
            "traps on start",
            wasm(test_programs::BADINIT),
            "fails when instantiated",
        ),
    ];
    for (case, bytes, reason) in cases {
        let (status, body) = upload(&admin, "echo", bytes).await;
        assert_eq!(status, 422, "{case}: {body}");
        assert_eq!(body["code"], "invalid_component", "{case}");
        let message = body["error"].as_str().unwrap_or("");
        assert!(message.contains(reason), "{case}: {message}");
        assert_eq!(version(&host).await, "v1", "{case}: still serving");
    }
    let (status, body) = upload(&admin, "ghost", wasm(test_programs::ECHO_V2)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "unknown_component");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_reactivates_the_previous_version_and_the_listing_shows_both() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let admin = host.admin_url.clone().expect("admin listener");

    let nothing = host.admin_post("/admin/components/echo/rollback").await;
    assert_eq!(nothing.status, 409, "nothing to roll back to yet");

    let (status, deployed) = upload(&admin, "echo", wasm(test_programs::ECHO_V2)).await;
    assert_eq!(status, 201);
    assert_eq!(version(&host).await, "v2");
    let rolled = host.admin_post("/admin/components/echo/rollback").await;
    assert_eq!(rolled.status, 200);
    let rolled = rolled.json();
    assert_eq!(rolled["previous_version"], deployed["version"]);
    assert_eq!(version(&host).await, "v1");

    let listing = host.admin("GET", "/admin/components").await.json();
    let echo = &listing["components"][0];
    assert_eq!(echo["name"], "echo");
    assert_eq!(echo["active_version"], rolled["version"]);
    assert_eq!(echo["versions"].as_array().map(Vec::len), Some(2));
    let actions: Vec<&str> = echo["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["rollback", "deploy", "deploy"],
        "newest first, baseline included"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_component_answers_503_until_deployed_again() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let admin = host.admin_url.clone().expect("admin listener");
    let removed = host.admin("DELETE", "/admin/components/echo").await;
    assert_eq!(removed.status, 200);
    let reply = host.get("/hello").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["code"], "component_missing");
    let (status, _) = upload(&admin, "echo", wasm(test_programs::ECHO_V2)).await;
    assert_eq!(status, 201);
    assert_eq!(version(&host).await, "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_version_survives_a_restart() {
    let services = Services::start(Backend::Bare).await;
    let mut host = echo_host(&services, &[]);
    let admin = host.admin_url.clone().expect("admin listener");
    let (status, _) = upload(&admin, "echo", wasm(test_programs::ECHO_V2)).await;
    assert_eq!(status, 201);
    host.kill();

    let restarted = echo_host(&services, &[]);
    assert_eq!(version(&restarted).await, "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_the_same_database_follows_a_deploy_within_a_second() {
    let services = Services::start(Backend::RedisPostgres).await;
    let a = echo_host(&services, &[]);
    let b = echo_host(&services, &[]);
    assert_eq!(version(&b).await, "v1");
    let (status, _) = upload(
        a.admin_url.as_deref().expect("admin"),
        "echo",
        wasm(test_programs::ECHO_V2),
    )
    .await;
    assert_eq!(status, 201);
    let deployed = Instant::now();
    wait_for_version_within_a_second(&b, "v2", deployed).await;
    println!(
        "second instance switched {:?} after the deploy returned",
        deployed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_dropped_into_the_components_folder_is_deployed_once_complete() {
    let services = Services::start(Backend::Bare).await;
    let folder = services.dir.path().join("components");
    std::fs::create_dir_all(&folder).expect("components folder");
    let host = echo_host(
        &services,
        &[("STRATA_COMPONENTS_DIR", folder.to_str().expect("utf-8"))],
    );
    assert_eq!(version(&host).await, "v1");

    // Written in pieces, as a slow copy would.
    let bytes = wasm(test_programs::ECHO_V2);
    let path = folder.join("echo.wasm");
    for chunk in bytes.chunks(bytes.len() / 4 + 1) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(chunk).expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let written = Instant::now();
    while version(&host).await != "v2" {
        assert!(
            written.elapsed() < Duration::from_secs(5),
            "file not deployed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(&host.log).expect("log");
    assert!(
        !log.contains("file deploy refused"),
        "no half-written file was tried:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_command_uploads_and_reports_the_new_version() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let output = Host::command()
        .args(["deploy", "echo"])
        .arg(test_programs::ECHO_V2)
        .args(["--admin-url", host.admin_url.as_deref().expect("admin")])
        .output()
        .expect("run strata deploy");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("deployed echo version "), "{stdout}");
    assert_eq!(version(&host).await, "v2");

    let refused = Host::command()
        .args([
            "deploy",
            "echo",
            "/nonexistent.wasm",
            "--admin-url",
            host.admin_url.as_deref().expect("admin"),
        ])
        .output()
        .expect("run strata deploy");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot read /nonexistent.wasm"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turns_unhealthy_when_nothing_is_deployed() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    assert_eq!(host.get("/health").await.json()["status"], "healthy");
    let removed = host.admin("DELETE", "/admin/components/echo").await;
    assert_eq!(removed.status, 200);
    let health = host.get("/health").await;
    assert_eq!(health.status, 503);
    let body = health.json();
    assert_eq!(body["status"], "unhealthy");
    assert!(
        body["reasons"][0]
            .as_str()
            .unwrap_or("")
            .contains("no component"),
        "{body}"
    );
}
