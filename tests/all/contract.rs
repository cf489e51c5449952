//! The `strata:host` contract only grows within `0.1.x`: a component built
//! against an earlier release keeps linking and working on this host, so an
//! upgrade never strands a deployed component.

use crate::support::{Backend, Host, Services};

/// The host serving the `legacy` component (built against the frozen
/// `strata:host@0.1.0` in `tests/components/legacy/wit`) at `/legacy`.
fn legacy_host(services: &Services) -> Host {
    let manifest = format!(
        r#"
[components.legacy]
source = {legacy:?}
cache_prefixes = ["legacy:"]

[[routes]]
path = "/legacy"
component = "legacy"
"#,
        legacy = test_programs::LEGACY,
    );
    let path = services.dir.path().join("legacy.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    services.host_with(&[("STRATA_MANIFEST", path.to_str().expect("utf-8"))])
}

#[test]
fn the_legacy_component_imports_the_released_contract_and_the_host_a_later_one() {
    let wasm = std::fs::read(test_programs::LEGACY).expect("legacy.wasm");
    let imports = |needle: &str| wasm.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(imports("strata:host/cache@0.1.0"));
    let current = include_str!("../../wit/host.wit");
    assert!(
        !current.contains("package strata:host@0.1.0;"),
        "the host's contract has moved on since 0.1.0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_built_against_0_1_0_is_served_by_this_host() {
    let services = Services::start(Backend::Bare).await;
    let host = legacy_host(&services);
    let first = host.get("/legacy").await;
    assert_eq!((first.status, first.body.as_str()), (200, "computed"));
    let second = host.get("/legacy").await;
    assert_eq!(
        (second.status, second.body.as_str()),
        (200, "hit computed-by-0.1.0")
    );
}
