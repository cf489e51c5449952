//! Start-up contract: documented options, and one clear error line with a
//! non-zero exit for every way configuration can be wrong.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary to completion (killing it if it does not exit) and
/// returns (exit success, stdout, stderr).
fn run(mut command: Command) -> (bool, String, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strata");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("strata did not exit on bad configuration");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The single `strata: error:` line of a failed start.
fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("strata: error:"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one error line expected in:\n{stderr}"
    );
    lines[0].to_string()
}

fn start_with_manifest(dir: &Path, manifest: &str) -> (bool, String, String) {
    let path = dir.join("strata.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    let mut command = crate::support::Host::command();
    command
        .env("STRATA_MANIFEST", &path)
        .env("STRATA_SQLITE_PATH", dir.join("strata.db"));
    run(command)
}

#[test]
fn help_documents_every_option_and_its_environment_variable() {
    let mut command = crate::support::Host::command();
    command.arg("--help");
    let (ok, stdout, _) = run(command);
    assert!(ok);
    for expected in [
        "--listen",
        "--manifest",
        "REDIS_URL",
        "DATABASE_URL",
        "CACHE_L1_CAPACITY",
        "CACHE_L1_TTL_SECONDS",
        "CACHE_L2_TTL_SECONDS",
        "STRATA_REQUEST_TIMEOUT_MS",
        "STRATA_OUTBOUND_RETRIES",
        "--simulate-upstream",
        "--compile-cache-dir",
    ] {
        assert!(
            stdout.contains(expected),
            "--help lacks {expected}:\n{stdout}"
        );
    }
}

#[test]
fn a_manifest_with_an_unknown_field_fails_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, _, stderr) = start_with_manifest(
        dir.path(),
        "[components.market]\nsource = \"builtin:market\"\ncache_prefix = [\"market:\"]\n",
    );
    assert!(!ok);
    let line = error_line(&stderr);
    assert!(
        line.contains("manifest") && line.contains("cache_prefix"),
        "{line}"
    );
}

#[test]
fn l1_budgets_over_the_l1_size_fail_at_start_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, _, stderr) = start_with_manifest(
        dir.path(),
        "[components.market]\nsource = \"builtin:market\"\ncache_prefixes = [\"market:\"]\ncache_l1_mib = 100\n",
    );
    assert!(!ok);
    let line = error_line(&stderr);
    assert!(
        line.contains("cache_l1_mib") && line.contains("67108864"),
        "{line}"
    );
}

#[test]
fn conflicting_routes_fail_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = r#"
        [components.market]
        source = "builtin:market"
        [[routes]]
        path = "/api/market/{symbol}"
        component = "market"
        [[routes]]
        path = "/api/market/{id}"
        component = "market"
    "#;
    let (ok, _, stderr) = start_with_manifest(dir.path(), manifest);
    assert!(!ok);
    assert!(error_line(&stderr).contains("conflicts with"));
}

#[test]
fn a_missing_component_file_fails_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, _, stderr) =
        start_with_manifest(dir.path(), "[components.ghost]\nsource = \"ghost.wasm\"\n");
    assert!(!ok);
    let line = error_line(&stderr);
    assert!(
        line.contains("ghost") && line.contains("ghost.wasm"),
        "{line}"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("text.wasm"), "definitely not wasm").expect("write");
    // A core module: magic, version 1, no sections.
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
    for (file, reason) in [
        ("text.wasm", "not a WebAssembly binary"),
        ("core.wasm", "core WebAssembly module"),
    ] {
        let (ok, _, stderr) = start_with_manifest(
            dir.path(),
            &format!("[components.bad]\nsource = \"{file}\"\n"),
        );
        assert!(!ok, "{file}");
        assert!(error_line(&stderr).contains(reason), "{file}: {stderr}");
    }
}

#[test]
fn an_unreachable_database_fails_with_one_clear_line() {
    let port = crate::support::free_port();
    let mut command = crate::support::Host::command();
    command.env(
        "DATABASE_URL",
        format!("postgres://postgres@127.0.0.1:{port}/none"),
    );
    let (ok, _, stderr) = run(command);
    assert!(!ok);
    assert!(error_line(&stderr).contains("cannot connect to the database"));
}

#[test]
fn an_invalid_redis_url_fails_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = crate::support::Host::command();
    command
        .env("REDIS_URL", "http://not-redis")
        .env("STRATA_SQLITE_PATH", dir.path().join("strata.db"));
    let (ok, _, stderr) = run(command);
    assert!(!ok);
    assert!(error_line(&stderr).contains("REDIS_URL"));
}

#[test]
fn redis_url_and_cluster_urls_together_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = crate::support::Host::command();
    command
        .env("REDIS_URL", "redis://127.0.0.1:6379/")
        .env("REDIS_CLUSTER_URLS", "redis://127.0.0.1:7000")
        .env("STRATA_SQLITE_PATH", dir.path().join("strata.db"));
    let (ok, _, stderr) = run(command);
    assert!(!ok);
    assert!(error_line(&stderr).contains("not both"), "{stderr}");
}

#[test]
fn an_invalid_cluster_url_fails_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = crate::support::Host::command();
    command
        .env(
            "REDIS_CLUSTER_URLS",
            "redis://127.0.0.1:7000,http://not-redis",
        )
        .env("STRATA_SQLITE_PATH", dir.path().join("strata.db"));
    let (ok, _, stderr) = run(command);
    assert!(!ok);
    let line = error_line(&stderr);
    assert!(line.contains("REDIS_CLUSTER_URLS"), "{line}");
    assert!(line.contains("http://not-redis"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_take_1_and_yes_from_the_environment() {
    let services = crate::support::Services::start(crate::support::Backend::Bare).await;
    let host = services.host_with(&[
        ("STRATA_NO_COMPILE_CACHE", "1"),
        ("STRATA_COMPILE_IN_PROCESS", "yes"),
        ("STRATA_STARTUP_MANIFEST_WINS", "0"),
    ]);
    assert_eq!(host.get("/health").await.status, 200);
}

#[test]
fn a_switch_set_to_a_word_it_does_not_know_fails_with_one_clear_line() {
    let mut command = crate::support::Host::command();
    command.env("STRATA_SIMULATE_UPSTREAM", "perhaps");
    let (ok, _, stderr) = run(command);
    assert!(!ok);
    assert!(stderr.contains("perhaps"), "{stderr}");
}
