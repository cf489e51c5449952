//! The hostile component (`tests/components/hostile`) mounted on
//! `/hostile/{mode}` with chosen grants, and its probe modes as one call.

use std::path::Path;

use serde_json::Value;

use crate::support::{Host, Services, http};

/// Grants that let the hostile component load (it imports every
/// capability) while granting it only its own corner of each.
pub const OWN_CORNER: &str = r#"
cache_prefixes = ["hostile:"]
sql = "read-only"
outbound = ["http://127.0.0.1:9"]
"#;

/// Starts a host serving the hostile component with `grants` (TOML lines
/// of its `[components.hostile]` table) and extra environment variables.
pub fn host(services: &Services, grants: &str, env: &[(&str, &str)]) -> Host {
    host_of(
        services,
        Path::new(test_programs::HOSTILE),
        grants,
        env,
        None,
    )
}

/// As [`host`], with the binary started through `sh -c WRAPPER` (which
/// ends in `exec "$0"`), to run it under shell-set limits.
pub fn host_wrapped(
    services: &Services,
    grants: &str,
    env: &[(&str, &str)],
    wrapper: &str,
) -> Host {
    host_of(
        services,
        Path::new(test_programs::HOSTILE),
        grants,
        env,
        Some(wrapper),
    )
}

/// As [`host`], serving the component at `wasm` under the hostile name.
pub fn host_of(
    services: &Services,
    wasm: &std::path::Path,
    grants: &str,
    env: &[(&str, &str)],
    wrapper: Option<&str>,
) -> Host {
    host_of_timed(services, wasm, 5000, grants, env, wrapper)
}

/// As [`host`], with a per-request deadline of `timeout_ms`.
pub fn host_timed(services: &Services, timeout_ms: u64, grants: &str) -> Host {
    host_of_timed(
        services,
        Path::new(test_programs::HOSTILE),
        timeout_ms,
        grants,
        &[],
        None,
    )
}

fn host_of_timed(
    services: &Services,
    wasm: &std::path::Path,
    timeout_ms: u64,
    grants: &str,
    env: &[(&str, &str)],
    wrapper: Option<&str>,
) -> Host {
    let hostile = wasm.to_path_buf();
    let manifest = format!(
        r#"
[components.hostile]
source = {hostile:?}
timeout_ms = {timeout_ms}
{grants}

[[routes]]
path = "/hostile/{{mode}}"
component = "hostile"
"#,
        hostile = hostile.display().to_string(),
    );
    let path = services.dir.path().join("hostile.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    let mut all = vec![("STRATA_MANIFEST", path.to_str().expect("utf-8 path"))];
    all.extend_from_slice(env);
    match wrapper {
        None => services.host_with(&all),
        Some(wrapper) => services.host_wrapped(&all, wrapper),
    }
}

/// Runs one probe mode with `body`; returns its JSON report
/// (`{"outcome":"ok"|"error", ...}`).
pub async fn probe(host: &Host, mode: &str, body: impl Into<String>) -> Value {
    let response = http()
        .post(format!("{}/hostile/{mode}", host.url))
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("probe {mode}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.expect("probe body");
    assert_eq!(status, 200, "probe {mode} answered {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("probe {mode}: not JSON ({e}): {text}"))
}

/// Asserts a probe was refused with `kind`; returns the message.
pub fn refused(report: &Value, kind: &str, what: &str) -> String {
    assert_eq!(
        report["outcome"], "error",
        "{what} must be refused, got {report}"
    );
    assert_eq!(report["error_kind"], kind, "{what}: {report}");
    report["message"].as_str().unwrap_or_default().to_string()
}
