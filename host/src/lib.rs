//! Strata: a WebAssembly component host with a built-in two-tier cache.
//!
//! A request travels: [`http`] (accept, host endpoints, route) ->
//! [`runtime`] (fresh instance of the routed component) -> the component,
//! which reaches [`cache`], [`data`] and [`upstream`] only through the
//! `strata:host` imports implemented in [`runtime::capabilities`].
//! [`live`] pushes scheduled dashboard updates to WebSocket clients.
//! [`backplane`] is the Redis (standalone or cluster) that instances share.
//! [`config`] holds the operator's settings and manifest; [`deploy`]
//! replaces component versions while serving; [`app`] wires it all
//! together at start.

pub mod app;
pub mod backplane;
mod breaker;
pub mod cache;
pub mod config;
pub mod data;
pub mod deploy;
pub mod http;
pub mod live;
pub mod runtime;
pub mod upstream;

/// Components compiled into the binary by `build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_components.rs"));
}
