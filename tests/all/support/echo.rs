//! The echo test component behind a host, and deploying versions of it:
//! shared by the deploy and scale-out tests.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Host, Services, http};

/// A manifest serving the echo test component at `/hello`.
pub fn echo_manifest(dir: &Path) -> String {
    let path = dir.join("echo.toml");
    let wasm = test_programs::ECHO_V1;
    let text = format!(
        "[components.echo]\nsource = {:?}\n\n[[routes]]\npath = \"/hello\"\ncomponent = \"echo\"\n\n[[routes]]\npath = \"/hello/*\"\ncomponent = \"echo\"\n",
        wasm
    );
    std::fs::write(&path, text).expect("write manifest");
    path.display().to_string()
}

pub fn echo_host(services: &Services, extra: &[(&str, &str)]) -> Host {
    let manifest = echo_manifest(services.dir.path());
    let mut env = vec![("STRATA_MANIFEST", manifest.as_str())];
    env.extend_from_slice(extra);
    services.host_with(&env)
}

/// The bytes of a test component (a `test_programs` path).
pub fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("test component {path}: {e}"))
}

pub async fn upload(admin: &str, name: &str, bytes: Vec<u8>) -> (u16, serde_json::Value) {
    let response = http()
        .post(format!("{admin}/admin/components/{name}"))
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

pub async fn version(host: &Host) -> String {
    let reply = host.get("/hello").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["version"]
        .as_str()
        .expect("version")
        .to_string()
}

/// Polls `host` until it serves `expected`, failing once a second has
/// passed since `deployed` (the propagation promise between instances).
pub async fn wait_for_version_within_a_second(host: &Host, expected: &str, deployed: Instant) {
    while version(host).await != expected {
        assert!(
            deployed.elapsed() < Duration::from_secs(1),
            "{} still serves an older version 1 s after the deploy",
            host.url
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
