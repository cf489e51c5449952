//! Host-side bindings for `strata:host`, generated from `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "strata:host/capabilities",
    imports: { default: async | trappable },
    with: {
        "strata:host/cache.lease": crate::runtime::capabilities::cache::LeaseHandle,
    },
});

pub use self::strata::host::{cache, config, log, outbound, sql};
