//! Standard WASI interfaces a component written for Spin or wasmCloud
//! uses, served from what Strata has: `wasi:config/store` from the
//! manifest's `config`, `wasi:logging/logging` into the host's log. The
//! component (`test-standard`) is built from the upstream WIT only.

use crate::support::{Backend, Host, Services};

/// The standard component at `/std/*`, with `config` (manifest lines).
fn standard_host(services: &Services, config: &str) -> Host {
    let manifest = format!(
        "[components.standard]\nsource = {:?}\n{config}\n\n[[routes]]\npath = \"/std/*\"\ncomponent = \"standard\"\n",
        test_programs::STANDARD
    );
    let path = services.dir.path().join("standard.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    services.host_with(&[("STRATA_MANIFEST", path.to_str().expect("utf-8 path"))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_config_reads_the_components_manifest_config() {
    let services = Services::start(Backend::Bare).await;
    let host = standard_host(&services, "config = { greeting = \"hi\", mode = \"test\" }");
    let reply = host.get("/std/config/greeting").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "hi"));
    assert_eq!(host.get("/std/config/missing").await.status, 404);
    let all = host.get("/std/config-all").await;
    assert_eq!(
        (all.status, all.body.as_str()),
        (200, "greeting=hi\nmode=test")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_config_without_a_config_table_reads_nothing() {
    let services = Services::start(Backend::Bare).await;
    let host = standard_host(&services, "");
    assert_eq!(host.get("/std/config/HOME").await.status, 404);
    let all = host.get("/std/config-all").await;
    assert_eq!((all.status, all.body.as_str()), (200, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_logging_lines_reach_the_log_under_the_component() {
    let services = Services::start(Backend::Bare).await;
    let host = standard_host(&services, "");
    assert_eq!(host.get("/std/log").await.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let log = host.log_text();
        if let Some(line) = log.lines().find(|l| l.contains("standard says hello")) {
            assert!(line.contains("std: standard says hello"), "{line}");
            assert!(
                line.contains("component=\"standard\"") || line.contains("component=standard"),
                "{line}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no wasi:logging line in {log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_built_against_a_composed_world_needs_only_its_own_grants() {
    let services = Services::start(Backend::Bare).await;
    let manifest = format!(
        "[components.narrow]\nsource = {:?}\nconfig = {{ greeting = \"hello\" }}\n\n[[routes]]\npath = \"/narrow\"\ncomponent = \"narrow\"\n",
        test_programs::NARROW
    );
    let path = services.dir.path().join("narrow.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    let host = services.host_with(&[("STRATA_MANIFEST", path.to_str().expect("utf-8 path"))]);
    let reply = host.get("/narrow").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello"));
}
