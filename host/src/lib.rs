//! Strata: a WebAssembly component host with a built-in two-tier cache.
//!
//! A request travels: [`http`] (accept, connection limits, host endpoints,
//! the HTTP checks) -> [`dispatch`] (route from [`routes`], admission, a
//! fresh instance from the [`runtime`]) -> the component, which reaches
//! [`cache`], [`data`] and [`upstream`] only through the `strata:host`
//! capabilities of the runtime crate. [`live`] refreshes the dashboard
//! through the same dispatcher and pushes it to WebSocket clients.
//! [`config`] holds the operator's settings and manifest; [`deploy`]
//! replaces component versions while serving; [`telemetry`] exports spans
//! and request metrics over OTLP when configured; [`app`] builds it all at
//! start. [`scaffold`] writes new component projects (`strata new`).
//!
//! Modules only reach down: `routes` <- `config` <- `dispatch`, `deploy`,
//! `live`, `telemetry` <- `app` <- `http`.

pub mod app;
pub mod body;
pub mod config;
pub mod deploy;
pub mod dispatch;
pub mod http;
pub mod live;
pub mod routes;
pub mod scaffold;
pub mod telemetry;

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
