//! Deploying whole apps live: a manifest (components, routes, grants) is
//! validated in full, activated on every instance sharing the database
//! within a second while traffic flows, rolled back, and restored after a
//! restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::echo::echo_host;
use crate::support::{Backend, Host, Services, http};

/// The echo component at `/hello`, with the hostile component's file
/// beside the manifest as `hostile.wasm` when `hostile_routes` is given
/// (each route `/PREFIX/{mode}`), granted what it imports (its own corner)
/// and `grants` (manifest lines).
fn app_manifest(hostile_routes: &[&str], grants: &str) -> String {
    let mut text = format!(
        "[components.echo]\nsource = {:?}\n\n[[routes]]\npath = \"/hello\"\ncomponent = \"echo\"\n",
        test_programs::ECHO_V1
    );
    if !hostile_routes.is_empty() {
        text.push_str(&format!(
            "\n[components.hostile]\nsource = \"hostile.wasm\"\ntimeout_ms = 5000\n{}\n{grants}\n",
            crate::security::hostile::OWN_CORNER
        ));
    }
    for prefix in hostile_routes {
        text.push_str(&format!(
            "\n[[routes]]\npath = \"/{prefix}/{{mode}}\"\ncomponent = \"hostile\"\n"
        ));
    }
    text
}

/// The deploy body for `manifest`: file sources travel base64 by name.
fn upload(manifest: &str) -> Value {
    use base64::Engine as _;
    let mut components = serde_json::Map::new();
    for (name, path) in [
        ("echo", test_programs::ECHO_V1),
        ("hostile", test_programs::HOSTILE),
    ] {
        if manifest.contains(&format!("[components.{name}]")) {
            let bytes = std::fs::read(path).expect("test component");
            components.insert(
                name.into(),
                json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
        }
    }
    json!({ "manifest": manifest, "components": components })
}

async fn post_json(host: &Host, path: &str, body: &Value) -> (u16, Value) {
    let admin = host.admin_url.clone().expect("admin listener");
    let response = http()
        .post(format!("{admin}{path}"))
        .json(body)
        .send()
        .await
        .expect("admin call");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

async fn deploy(host: &Host, manifest: &str) -> (u16, Value) {
    post_json(host, "/admin/apps", &upload(manifest)).await
}

/// Deploys `manifest`, which must be accepted; returns the outcome.
async fn deployed(host: &Host, manifest: &str) -> Value {
    let (status, outcome) = deploy(host, manifest).await;
    assert_eq!(status, 201, "{outcome}");
    outcome
}

async fn status_of(host: &Host, path: &str) -> u16 {
    host.get(path).await.status
}

/// Polls every host until `path` answers `expected`, failing once a
/// second has passed since `since` (the propagation promise).
async fn all_answer_within_a_second(hosts: &[Host], path: &str, expected: u16, since: Instant) {
    for host in hosts {
        loop {
            let status = status_of(host, path).await;
            if status == expected {
                break;
            }
            assert!(
                since.elapsed() < Duration::from_secs(1),
                "{} answers {path} with {status}, not {expected}, 1 s after the deploy",
                host.url
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Three instances sharing one Postgres database, each started with the
/// echo-only manifest.
async fn three_instances() -> (Services, Vec<Host>) {
    let services = Services::start(Backend::RedisPostgres).await;
    let hosts = (0..3).map(|_| echo_host(&services, &[])).collect();
    (services, hosts)
}

/// Requests `/hello` on every host until stopped; returns the failures.
fn load(
    hosts: &[Host],
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(usize, Vec<String>)>> {
    hosts
        .iter()
        .map(|host| {
            let url = format!("{}/hello", host.url);
            let stop = stop.clone();
            tokio::spawn(async move {
                let (mut sent, mut failures) = (0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    sent += 1;
                    match http().get(&url).send().await {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => failures.push(format!("HTTP {}", r.status())),
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                (sent, failures)
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_component_with_two_routes_is_served_on_every_instance_within_a_second_under_load() {
    let (_services, hosts) = three_instances().await;
    assert_eq!(status_of(&hosts[0], "/h/ok").await, 404);
    let stop = Arc::new(AtomicBool::new(false));
    let workers = load(&hosts, stop.clone());

    let outcome = deployed(&hosts[0], &app_manifest(&["h", "h2"], "")).await;
    let since = Instant::now();
    assert_eq!(outcome["added"], json!(["hostile"]), "{outcome}");
    assert_eq!(outcome["unchanged"], json!(["echo"]), "{outcome}");
    all_answer_within_a_second(&hosts, "/h/ok", 200, since).await;
    all_answer_within_a_second(&hosts, "/h2/ok", 200, since).await;

    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let (sent, failures) = worker.await.expect("load task");
        assert!(sent > 10, "load ran: {sent} requests");
        assert!(
            failures.is_empty(),
            "{} failed: {:?}",
            failures.len(),
            failures.first()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_grant_applies_to_the_next_request() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = echo_host(&services, &[]);
    deployed(&host, &app_manifest(&["h"], "")).await;
    let write = || async {
        http()
            .post(format!("{}/h/cache-set", host.url))
            .json(&json!({ "key": "app:x", "value": "1" }))
            .send()
            .await
            .expect("request")
            .json::<Value>()
            .await
            .expect("JSON")
    };
    assert_eq!(write().await["outcome"], "error", "no cache grant yet");

    let granted = app_manifest(&["h"], "").replace("[\"hostile:\"]", "[\"hostile:\", \"app:\"]");
    assert_ne!(granted, app_manifest(&["h"], ""));
    let body = deployed(&host, &granted).await;
    assert_eq!(body["changed"], json!(["hostile"]), "{body}");
    assert_eq!(
        write().await["outcome"],
        "ok",
        "the next request has the new grant"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_component_drains_and_then_its_routes_404_everywhere() {
    let (_services, hosts) = three_instances().await;
    deployed(&hosts[0], &app_manifest(&["h"], "")).await;
    all_answer_within_a_second(&hosts, "/h/ok", 200, Instant::now()).await;

    let url = format!("{}/h/sleep", hosts[1].url);
    let in_flight =
        tokio::spawn(async move { http().get(url).send().await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = deployed(&hosts[0], &app_manifest(&[], "")).await;
    let removed = Instant::now();
    assert_eq!(body["removed"], json!(["hostile"]), "{body}");
    all_answer_within_a_second(&hosts, "/h/ok", 404, removed).await;
    let finished = in_flight.await.expect("task");
    assert_eq!(
        finished.ok(),
        Some(200),
        "the request in flight finished on its version"
    );
    assert_eq!(status_of(&hosts[1], "/hello").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_with_errors_is_refused_with_every_error_and_the_old_one_keeps_serving() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = echo_host(&services, &[]);
    let broken = format!(
        "{}\n[components.ghost]\nsource = \"ghost.wasm\"\ncache_prefixes = [\"\"]\n\n[components.other]\nsource = \"/etc/passwd\"\n\n[[routes]]\npath = \"/x\"\ncomponent = \"nobody\"\n",
        app_manifest(&[], "")
    );
    let (status, body) = post_json(&host, "/admin/apps", &json!({ "manifest": broken })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_manifest");
    let errors: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("ghost") && e.contains("empty cache prefix")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("nobody")), "{errors:?}");

    // Shape valid, binaries missing: both named, no file read from the
    // host's own disk.
    let unuploaded = format!(
        "{}\n[components.ghost]\nsource = \"ghost.wasm\"\n\n[components.other]\nsource = \"/etc/passwd\"\n",
        app_manifest(&[], "")
    );
    let (status, body) = post_json(&host, "/admin/apps", &json!({ "manifest": unuploaded })).await;
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"].to_string();
    assert!(
        errors.contains("ghost") && errors.contains("other") && errors.contains("not uploaded"),
        "{errors}"
    );

    assert_eq!(status_of(&host, "/hello").await, 200);
    let apps = host.admin("GET", "/admin/apps").await.json();
    assert_eq!(
        apps["active"]["action"], "seed",
        "nothing was stored: {apps}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_routes_on_every_instance() {
    let (_services, hosts) = three_instances().await;
    deployed(&hosts[0], &app_manifest(&["h"], "")).await;
    all_answer_within_a_second(&hosts, "/h/ok", 200, Instant::now()).await;

    let (status, body) = post_json(&hosts[2], "/admin/apps/rollback", &json!({})).await;
    let rolled_back = Instant::now();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "rollback");
    assert_eq!(body["removed"], json!(["hostile"]), "{body}");
    all_answer_within_a_second(&hosts, "/h/ok", 404, rolled_back).await;
    all_answer_within_a_second(&hosts, "/hello", 200, rolled_back).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_comes_back_with_the_last_active_manifest_and_versions() {
    let services = Services::start(Backend::RedisPostgres).await;
    let mut host = echo_host(&services, &[]);
    deployed(&host, &app_manifest(&["h"], "")).await;
    let v2 = std::fs::read(test_programs::ECHO_V2).expect("echo v2");
    let (status, body) =
        crate::support::echo::upload(host.admin_url.as_deref().expect("admin"), "echo", v2).await;
    assert_eq!(status, 201, "{body}");
    host.kill();

    // Started with the old echo-only manifest: the database's wins.
    let restarted = echo_host(&services, &[]);
    assert_eq!(status_of(&restarted, "/h/ok").await, 200);
    assert_eq!(crate::support::echo::version(&restarted).await, "v2");
    assert!(
        restarted
            .log_text()
            .contains("differs from the startup manifest"),
        "the host says whose manifest it serves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_reports_the_manifest_it_serves() {
    let (_services, hosts) = three_instances().await;
    let body = deployed(&hosts[0], &app_manifest(&["h"], "")).await;
    let id = body["manifest_id"].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = hosts[1].admin("GET", "/admin/instances").await.json();
        let instances = listed["instances"].as_array().cloned().unwrap_or_default();
        let current = instances.iter().filter(|i| i["manifest_id"] == id).count();
        if current == 3 {
            let addresses: Vec<_> = instances
                .iter()
                .map(|i| i["state"]["address"].clone())
                .collect();
            for host in &hosts {
                assert!(
                    addresses.contains(&json!(host.url)),
                    "{} listed: {listed}",
                    host.url
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every instance reports manifest {id}: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strata_toml_in_the_watched_folder_is_a_manifest_deploy() {
    let services = Services::start(Backend::Bare).await;
    let folder = services.dir.path().join("watched");
    std::fs::create_dir_all(&folder).expect("folder");
    let folder_text = folder.display().to_string();
    let host = echo_host(
        &services,
        &[("STRATA_COMPONENTS_DIR", folder_text.as_str())],
    );
    std::fs::copy(test_programs::HOSTILE, folder.join("hostile.wasm")).expect("copy");
    std::fs::write(folder.join("strata.toml"), app_manifest(&["h"], "")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_of(&host, "/h/ok").await != 200 {
        assert!(
            Instant::now() < deadline,
            "strata.toml was not deployed: {}",
            host.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_deploys_a_manifest_with_its_files_and_shows_apps_and_status() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let admin = host.admin_url.clone().expect("admin listener");
    let folder = services.dir.path().join("app");
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::copy(test_programs::HOSTILE, folder.join("hostile.wasm")).expect("copy");
    let manifest = folder.join("strata.toml");
    std::fs::write(&manifest, app_manifest(&["h"], "")).expect("write");
    let run = |args: &[&str]| {
        let output = Host::command()
            .args(args)
            .env("STRATA_ADMIN_URL", &admin)
            .output()
            .expect("run strata");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        (
            output.status.success(),
            text,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let manifest_arg = manifest.display().to_string();
    let (ok, out, err) = run(&["deploy", "--manifest", &manifest_arg]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("added hostile"), "{out}");
    assert_eq!(status_of(&host, "/h/ok").await, 200);

    let (ok, out, err) = run(&["apps"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("/h/{mode}") && out.contains("hostile"),
        "{out}"
    );
    let (ok, out, err) = run(&["status"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("1 instance(s)") && out.contains(&host.url),
        "{out}"
    );

    let (ok, out, err) = run(&["rollback", "--manifest"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("removed hostile"), "{out}");
    assert_eq!(status_of(&host, "/h/ok").await, 404);

    std::fs::write(
        &manifest,
        "[[routes]]\npath = \"/x\"\ncomponent = \"nobody\"\n",
    )
    .expect("write");
    let (ok, out, err) = run(&["deploy", "--manifest", &manifest_arg]);
    assert!(!ok, "{out}");
    assert!(err.contains("refused") && err.contains("nobody"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_manifest_cannot_read_the_hosts_secrets_through_env_references() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = echo_host(&services, &[]);
    for secret in ["DATABASE_URL", "REDIS_URL", "HOME"] {
        let leaky = format!(
            "{}\n[components.hostile]\nsource = \"hostile.wasm\"\nconfig = {{ leak = \"${{{secret}}}\" }}\n",
            app_manifest(&[], "")
        );
        let (status, body) = deploy(&host, &leaky).await;
        assert_eq!(status, 422, "{secret}: {body}");
        assert!(
            body["error"].as_str().unwrap_or_default().contains(secret),
            "{body}"
        );
        assert!(!body.to_string().contains("postgres://"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_without_components_is_refused_rather_than_emptying_the_app() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let (status, body) = post_json(&host, "/admin/apps", &json!({ "manifest": "" })).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no component"),
        "{body}"
    );
    assert_eq!(status_of(&host, "/hello").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_upstream_budgets_are_accepted_and_said_to_apply_at_restart() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let budgeted = format!(
        "{}\n[[upstreams]]\nhost = \"api.example.com\"\nrate = \"5/s\"\n",
        app_manifest(&[], "")
    );
    let outcome = deployed(&host, &budgeted).await;
    let notes = outcome["on_restart"].to_string();
    assert!(notes.contains("[[upstreams]]"), "{outcome}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_told_its_startup_manifest_wins_serves_it_and_makes_it_active() {
    let services = Services::start(Backend::RedisPostgres).await;
    let mut host = echo_host(&services, &[]);
    deployed(&host, &app_manifest(&["h"], "")).await;
    host.kill();

    let restarted = echo_host(&services, &[("STRATA_STARTUP_MANIFEST_WINS", "true")]);
    assert_eq!(
        status_of(&restarted, "/h/ok").await,
        404,
        "the file's app, without hostile"
    );
    assert_eq!(status_of(&restarted, "/hello").await, 200);
    let apps = restarted.admin("GET", "/admin/apps").await.json();
    assert_eq!(apps["active"]["action"], "seed", "{apps}");
    assert_eq!(apps["active"]["id"], apps["serving_manifest_id"], "{apps}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_redeploy_an_unchanged_watched_strata_toml_over_a_later_deploy() {
    let services = Services::start(Backend::Bare).await;
    let folder = services.dir.path().join("watched");
    std::fs::create_dir_all(&folder).expect("folder");
    let folder_text = folder.display().to_string();
    let env = [("STRATA_COMPONENTS_DIR", folder_text.as_str())];
    let mut host = echo_host(&services, &env);
    std::fs::copy(test_programs::HOSTILE, folder.join("hostile.wasm")).expect("copy");
    std::fs::write(folder.join("strata.toml"), app_manifest(&["h"], "")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_of(&host, "/h/ok").await != 200 {
        assert!(Instant::now() < deadline, "strata.toml was not deployed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    deployed(&host, &app_manifest(&["h2"], "")).await;
    host.kill();

    let restarted = echo_host(&services, &env);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        status_of(&restarted, "/h2/ok").await,
        200,
        "the later deploy stands"
    );
    assert_eq!(status_of(&restarted, "/h/ok").await, 404);
}
