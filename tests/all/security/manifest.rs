//! A hostile value in the environment against the manifest: `${VAR}` is
//! expanded inside string values only, so a value cannot add routes,
//! components or grants.

use crate::security::hostile::{self, probe};
use crate::support::{Backend, Services};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_value_cannot_add_a_route_to_the_manifest() {
    let services = Services::start(Backend::Bare).await;
    let injected = "x\" }\n\n[[routes]]\npath = \"/stolen/{mode}\"\ncomponent = \"hostile\"\n#";
    let host = hostile::host(
        &services,
        &format!(
            "{}\nconfig = {{ note = \"${{NOTE}}\" }}\n",
            hostile::OWN_CORNER
        ),
        &[("NOTE", injected)],
    );
    assert_eq!(
        host.get("/stolen/ok").await.status,
        404,
        "no route was added"
    );
    let report = probe(&host, "config", "note").await;
    assert_eq!(report["value"], injected, "the value stayed one string");
}
