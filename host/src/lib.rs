//! Strata: a WebAssembly component host with a built-in two-tier cache.
//!
//! A request travels: [`http`] (accept, host endpoints, route) ->
//! [`runtime`] (fresh instance of the routed component) -> the component,
//! which reaches [`cache`], [`data`] and [`upstream`] only through the
//! `strata:host` imports implemented in the [`runtime`] crate's capabilities.
//! [`live`] pushes scheduled dashboard updates to WebSocket clients.
//! [`backplane`] is the Redis (standalone or cluster) that instances share.
//! [`config`] holds the operator's settings and manifest; [`deploy`]
//! replaces component versions while serving; [`app`] wires it all
//! together at start.

pub mod app;
pub mod config;
pub mod deploy;
pub mod http;
pub mod live;

// The layers below, under the names the tests and the bench use.
pub use strata_backplane as backplane;
pub use strata_cache as cache;
pub use strata_data as data;
pub use strata_runtime as runtime;
pub use strata_upstream as upstream;

/// Components compiled into the binary by `build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_components.rs"));
}
