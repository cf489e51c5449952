//! Deploy refusals decided from a component's imports: a component that
//! imports a capability its manifest entry does not grant is refused from
//! its import section, before anything is compiled, so the refusal costs
//! milliseconds even for a large component (compiling one takes seconds).

use wasmparser::{Parser, Payload};

use crate::security::hostile;
use crate::support::echo::{echo_host, upload, version, wasm};
use crate::support::{Backend, Services};

/// The hostile component with the middle of its largest core module
/// overwritten: its imports still read, but no compiler accepts its code.
fn uncompilable_hostile() -> Vec<u8> {
    let mut bytes = wasm(test_programs::HOSTILE);
    let largest = Parser::new(0)
        .parse_all(&bytes)
        .filter_map(|payload| match payload.expect("a valid component") {
            Payload::ModuleSection {
                unchecked_range, ..
            } => Some(unchecked_range),
            _ => None,
        })
        .max_by_key(|range| range.len())
        .expect("a core module");
    let middle = largest.start + largest.len() / 2;
    bytes[middle..middle + 4096].fill(0xff);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_import_is_refused_before_the_component_is_compiled() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let admin = host.admin_url.clone().expect("admin listener");
    let (status, body) = upload(&admin, "echo", uncompilable_hostile()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_component");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("imports strata:host/") && message.contains("grants no"),
        "refused for its import, not its code: {message}"
    );
    assert_eq!(version(&host).await, "v1", "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_component_with_broken_code_is_still_refused_by_the_compiler() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host(&services, hostile::OWN_CORNER, &[]);
    let admin = host.admin_url.clone().expect("admin listener");
    let (status, body) = upload(&admin, "hostile", uncompilable_hostile()).await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(message.contains("invalid component"), "{message}");
}
