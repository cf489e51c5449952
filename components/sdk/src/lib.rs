//! Guest SDK for Strata handler components.
//!
//! Handlers are plain `wasi:http/proxy` components that also import Strata's
//! capabilities (cache, SQL, outbound HTTP, config, log). The raw bindings are
//! resource handles and WIT variants; this crate wraps them in a handful of
//! owned, typed values so a handler reads like an ordinary request → response
//! function, and so every component speaks the host's conventions (route
//! parameters, cache headers, JSON errors) the same way.
//!
//! A component implements [`Handler`] and exports it with
//! [`export_handler!`]:
//!
//! ```ignore
//! struct Api;
//!
//! impl strata_sdk::Handler for Api {
//!     fn handle(req: strata_sdk::Request) -> strata_sdk::Response {
//!         strata_sdk::Response::json(200, &serde_json::json!({ "path": req.path }))
//!     }
//! }
//!
//! strata_sdk::export_handler!(Api);
//! ```

/// Raw `wit-bindgen` output for world `strata:host/handler`.
///
/// Public so that [`export_handler!`] can reach it from another crate and so a
/// component can drop down to a WASI interface the SDK does not wrap; prefer
/// the typed modules of this crate otherwise.
pub mod bindings {
    wit_bindgen::generate!({
        world: "strata:host/handler",
        path: "../../wit",
        generate_all,
        // Components live in other crates, so the generated `export!` macro
        // has to be `#[macro_export]`ed; `export_handler!` calls it with
        // `with_types_in $crate::bindings`.
        pub_export_macro: true,
        default_bindings_module: "strata_sdk::bindings",
        additional_type_attributes: {
            "strata:host/sql@0.1.2/value": [#[derive(PartialEq)]],
        },
    });
}

pub mod cache;
pub mod config;
mod error;
mod export;
pub mod http;
pub mod log;
mod request;
mod response;
pub mod sql;
pub mod time;

pub use error::HttpError;
pub use export::{Handler, MAX_BODY_BYTES};
pub use request::Request;
pub use response::Response;

/// Canonical cache keys; re-exported so components never spell a key by hand
/// and always agree with the host and operators on its format.
pub use strata_keys as keys;

/// The response header that tells clients (and tests) how the cache answered.
pub const CACHE_HEADER: &str = "x-strata-cache";

#[doc(hidden)]
pub mod __private {
    //! Items the exported macro needs to name from the component crate.
    pub use crate::export::serve;
}
