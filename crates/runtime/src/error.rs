//! Why a component could not be loaded.
//!
//! Whoever deploys a component sees this error and has to act on it, so
//! each case names what to fix rather than where loading failed.

use thiserror::Error;

/// Why a component could not be loaded. Each names what to fix.
#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("wasm engine: {0}")]
    Engine(String),
    #[error("not a WebAssembly binary (missing the \\0asm header)")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component; build for wasm32-wasip2 \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("invalid component: {0}")]
    Compile(String),
    #[error("the component imports something this host does not offer: {0}")]
    UnsupportedImport(String),
    #[error("the component does not export wasi:http/incoming-handler: {0}")]
    WrongWorld(String),
    #[error("the component imports {import}, but its manifest entry grants no {capability}")]
    NotGranted {
        import: String,
        capability: &'static str,
    },
    #[error("the component fails when instantiated: {0}")]
    TrapsAtStart(String),
}
