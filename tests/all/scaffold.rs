//! `strata new`: a project scaffolded in each language builds with that
//! language's toolchain (the ones `scripts/setup.sh` installs for the
//! examples; cargo offline for Rust) and serves as it is from its own
//! `strata.toml`. Bad requests are refused with a message and write
//! nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Backend, Host, Services, one_large_component_test_at_a_time};

/// Runs `strata ARGS`, returning success, stdout and stderr.
fn strata(args: &[&str]) -> (bool, String, String) {
    let output = Host::command().args(args).output().expect("run strata");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `strata new --lang LANG NAME --dir PARENT`, which must succeed.
fn scaffold(parent: &Path, lang: &str, name: &str) -> PathBuf {
    let parent_arg = parent.display().to_string();
    let (ok, out, err) = strata(&["new", "--lang", lang, name, "--dir", &parent_arg]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("build it there with:"), "{out}");
    parent.join(name)
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn run(mut command: Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Serves the project from its own manifest and checks its answer.
async fn serves(services: &Services, project: &Path, name: &str, language: &str) {
    let manifest = project.join("strata.toml");
    let host: Host = services
        .host_with_large_components(&[("STRATA_MANIFEST", manifest.to_str().expect("utf-8 path"))]);
    let reply = host.get(&format!("/{name}")).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, format!("Hello from {language}\n").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_python_project_builds_and_serves() {
    let _one = one_large_component_test_at_a_time().await;
    let services = Services::start(Backend::Bare).await;
    let project = scaffold(services.dir.path(), "python", "py-greeter");
    let mut build = Command::new(examples().join("hello-python/.venv/bin/componentize-py"));
    build
        .current_dir(&project)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args([
            "-d",
            "wit",
            "-w",
            "local:py-greeter/app",
            "componentize",
            "app",
        ])
        .args(["-o", "py-greeter.wasm"]);
    run(build, "componentize-py");
    serves(&services, &project, "py-greeter", "Python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_js_project_builds_and_serves() {
    let _one = one_large_component_test_at_a_time().await;
    let services = Services::start(Backend::Bare).await;
    let project = scaffold(services.dir.path(), "js", "js-greeter");
    let mut build = Command::new(examples().join("hello-js/node_modules/.bin/componentize-js"));
    build
        .current_dir(&project)
        .args(["app.js", "--wit", "wit", "--world-name", "app"])
        .args(["--disable", "fetch-event", "-o", "js-greeter.wasm"]);
    run(build, "componentize-js");
    serves(&services, &project, "js-greeter", "JavaScript").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_rust_project_builds_and_serves() {
    let services = Services::start(Backend::Bare).await;
    let project = scaffold(services.dir.path(), "rust", "rs-greeter");
    // A target folder kept between runs (wit-bindgen compiles once), and
    // offline: the crates come from the local registry cache the
    // workspace's own build filled.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-rust");
    strata_wasm_build::Build {
        workspace: &project,
        target_dir: &target,
        packages: &["rs-greeter"],
        features: &[],
        clear: &[],
        env: &[("CARGO_NET_OFFLINE", "true")],
    }
    .run()
    .unwrap_or_else(|e| panic!("{e}"));
    let built = target.join("wasm32-wasip2/release/rs_greeter.wasm");
    let expected = project.join("target/wasm32-wasip2/release/rs_greeter.wasm");
    std::fs::create_dir_all(expected.parent().expect("a parent")).expect("mkdir");
    std::fs::copy(&built, &expected).expect("copy the artifact where the manifest names it");
    serves(&services, &project, "rs-greeter", "Rust").await;
}

#[test]
fn a_name_that_is_not_kebab_case_is_refused_and_nothing_is_written() {
    let parent = tempfile::tempdir().expect("temp dir");
    let parent_arg = parent.path().display().to_string();
    for bad in ["../escape", "Upper", "a_b", "-x"] {
        let (ok, out, err) = strata(&["new", "--lang", "js", "--dir", &parent_arg, "--", bad]);
        assert!(!ok, "{bad}: {out}");
        assert!(err.contains("cannot name a project"), "{bad}: {err}");
    }
    assert_eq!(std::fs::read_dir(parent.path()).expect("dir").count(), 0);
    assert!(!parent.path().join("../escape").exists());
}

#[test]
fn an_existing_folder_is_refused_and_left_alone() {
    let parent = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(parent.path().join("taken")).expect("mkdir");
    let parent_arg = parent.path().display().to_string();
    let (ok, _, err) = strata(&["new", "--lang", "rust", "taken", "--dir", &parent_arg]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read_dir(parent.path().join("taken"))
            .expect("dir")
            .count(),
        0
    );
}

#[test]
fn an_unknown_language_is_refused_with_the_choices() {
    let (ok, _, err) = strata(&["new", "--lang", "cobol", "x", "--dir", "/nonexistent"]);
    assert!(!ok);
    assert!(
        err.contains("rust") && err.contains("python") && err.contains("js"),
        "{err}"
    );
}
